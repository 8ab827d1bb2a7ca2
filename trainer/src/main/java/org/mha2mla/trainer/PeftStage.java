package org.mha2mla.trainer;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One optimizer update of a training stage, whatever computes the gradients ({@link GradientSource}): the two PEFT
 * stages of MHA2MLA-VLM train what their {@link FreezeMask} selects, the demo's pretraining trains everything
 * ({@link FreezeMask#all}). {@link #step}:
 *
 * <pre>
 *   for each micro-batch:  gradients += ∂(Σ supervised CE)/∂θ          (the gradient source)
 *   gradients /= supervised tokens of the step                           (token mean over the whole step)
 *   clip to the global norm;  skip the update if the norm is not finite
 *   AdamW update with this step's LR                                     (in ND4J, state kept here)
 * </pre>
 * The gradient buffers and the AdamW moments are allocated once and reused by every update.
 */
public final class PeftStage implements AutoCloseable {

    /** What one update did. */
    public record StepResult(double loss, double gradNorm, double lr, int tokens, int supervisedTokens, List<String> nonFinite) {
        /** Whether the optimizer skipped this update: a gradient was NaN or infinite ({@link #nonFinite} names them). */
        public boolean skipped() {
            return !nonFinite.isEmpty();
        }
    }

    private final GradientSource source;
    private final FreezeMask mask;
    private final double maxGradNorm;
    private final Map<String, INDArray> grads = new LinkedHashMap<>();
    private final AdamW optimizer;
    private final String summary;

    /** @param source computes the gradients of the parameters {@code mask} selects (it froze the others) */
    public PeftStage(GradientSource source, FreezeMask mask, AdamW.Config adam, double maxGradNorm) {
        this(source, mask, adam, maxGradNorm, null);
    }

    /** As above, with the optimizer's moments in {@code momentFile} (null: in memory; see {@link AdamW#momentsOnDisk}). */
    public PeftStage(GradientSource source, FreezeMask mask, AdamW.Config adam, double maxGradNorm, java.nio.file.Path momentFile) {
        this.source = source;
        this.mask = mask;
        this.maxGradNorm = maxGradNorm;
        Map<String, long[]> shapes = new LinkedHashMap<>();
        source.trainable().forEach((n, p) -> {
            grads.put(n, p.ulike());
            shapes.put(n, p.shape());
        });
        this.optimizer = new AdamW(adam, shapes, momentFile);
        this.summary = mask.name() + ": " + mask.summary(source.parameterSizes());
    }

    /** One micro-batch of {@code examples}, prepared for this stage's gradient source. */
    public GradientSource.Batch batch(List<TrainingExample> examples) {
        return source.batch(examples);
    }

    /**
     * One optimizer update over {@code microBatches} (gradient accumulation) at learning rate {@code lr}. The
     * loss is the token mean of the cross-entropy over all supervised tokens of the step.
     */
    public StepResult step(List<? extends GradientSource.Batch> microBatches, double lr) {
        double loss = accumulateGradients(microBatches);
        double norm = GradientClipping.clipGlobalNorm(grads, maxGradNorm);
        List<String> nonFinite = Double.isFinite(norm) ? List.of() : GradientClipping.nonFinite(grads);
        if (nonFinite.isEmpty()) {
            optimizer.update(source.trainable(), grads, lr);
            source.updated();
        }
        int tokens = microBatches.stream().mapToInt(GradientSource.Batch::tokens).sum();
        int supervised = microBatches.stream().mapToInt(GradientSource.Batch::supervisedTokens).sum();
        return new StepResult(loss, norm, lr, tokens, supervised, nonFinite);
    }

    /** The token-mean loss of {@code microBatches} at the current parameters (forward only). */
    public double loss(List<? extends GradientSource.Batch> microBatches) {
        double sum = 0;
        int supervised = 0;
        for (GradientSource.Batch mb : microBatches) {
            sum += source.lossSum(mb);
            supervised += mb.supervisedTokens();
        }
        return sum / supervised;
    }

    /**
     * Fills the gradient buffers ({@link #gradients}) with ∂loss/∂θ of the token-mean loss over {@code microBatches}
     * (before clipping) and returns that loss; the parameters do not change (gradient checks, comparisons of sources).
     */
    public double accumulateGradients(List<? extends GradientSource.Batch> microBatches) {
        int supervised = microBatches.stream().mapToInt(GradientSource.Batch::supervisedTokens).sum();
        if (supervised == 0) throw new IllegalArgumentException("optimizer step without any supervised token");
        for (INDArray g : grads.values()) g.assign(0);
        double lossSum = 0;
        for (GradientSource.Batch mb : microBatches) lossSum += source.accumulate(mb, grads);
        // The loss is a sum over supervised tokens (see MaskedCrossEntropy): make it the step's token mean.
        for (INDArray g : grads.values()) g.divi(supervised);
        return lossSum / supervised;
    }

    /** The gradient buffers of the latest update or {@link #accumulateGradients} (clipped after an update). */
    public Map<String, INDArray> gradients() {
        return Collections.unmodifiableMap(grads);
    }

    /** Restores parameters and optimizer state saved by {@link TrainingCheckpoint}. */
    public void restore(TrainingCheckpoint.Loaded ckpt) {
        Map<String, INDArray> params = source.trainable();
        if (!ckpt.params().keySet().equals(params.keySet())) {
            throw new IllegalArgumentException(ckpt.dir() + ": checkpoint trains " + ckpt.params().keySet()
                    + " but this stage trains " + params.keySet());
        }
        ckpt.params().forEach((n, p) -> {
            if (!Arrays.equals(p.shape(), params.get(n).shape())) {
                throw new IllegalArgumentException(ckpt.dir() + ": '" + n + "' has shape " + Arrays.toString(p.shape())
                        + ", the model " + Arrays.toString(params.get(n).shape()));
            }
            params.get(n).assign(p);
        });
        source.updated();
        optimizer.restore(ckpt.adamStep(), ckpt.expAvg(), ckpt.expAvgSq());
    }

    public FreezeMask mask() {
        return mask;
    }

    public GradientSource source() {
        return source;
    }

    /** Every parameter of the model (the checkpoint's tensors), in load order. */
    public List<String> parameters() {
        return List.copyOf(source.parameterSizes().keySet());
    }

    public List<String> trainable() {
        return List.copyOf(source.trainable().keySet());
    }

    /** The live trainable arrays. */
    public Map<String, INDArray> trainableParams() {
        return source.trainable();
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /** e.g. {@code stage1: trainable 24,576 / total 262,144 (9.38%)}. */
    public String summary() {
        return summary;
    }

    /** Trainable parameters (elements). */
    public long trainableParameters() {
        return source.trainable().values().stream().mapToLong(INDArray::length).sum();
    }

    /** Releases the optimizer's moment file, if it has one. */
    @Override
    public void close() {
        optimizer.close();
    }
}
