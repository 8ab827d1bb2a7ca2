package org.mha2mla.trainer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.mha2mla.layers.text.GradientGraph;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One PEFT stage on a loaded model: the parameters the {@link FreezeMask} selects train, every other one is
 * turned into a SameDiff constant (no gradient is formed for it, and it stays bitwise as loaded), and the
 * masked cross-entropy is added on the decoder's logits. {@link #step} is one optimizer update:
 *
 * <pre>
 *   for each micro-batch:  gradients += ∂(Σ supervised CE)/∂θ          (SameDiff backprop)
 *   gradients /= supervised tokens of the step                           (token mean over the whole step)
 *   clip to the global norm;  AdamW update with this step's LR           (in ND4J, state kept here)
 * </pre>
 */
public final class PeftStage {

    /** What one update did. */
    public record StepResult(double loss, double gradNorm, double lr, int tokens, int supervisedTokens, List<String> nonFinite) {
        /** Whether the optimizer skipped this update: a gradient was NaN or infinite ({@link #nonFinite} names them). */
        public boolean skipped() {
            return !nonFinite.isEmpty();
        }
    }

    private final TrainableModel model;
    private final FreezeMask mask;
    private final double maxGradNorm;
    private final List<String> parameters;
    private final List<String> trainable;
    private final Map<String, INDArray> params = new LinkedHashMap<>();
    private final Map<String, INDArray> grads = new LinkedHashMap<>();
    private final AdamW optimizer;
    private final String summary;

    public PeftStage(TrainableModel model, FreezeMask mask, AdamW.Config adam, double maxGradNorm) {
        this.model = model;
        this.mask = mask;
        this.maxGradNorm = maxGradNorm;
        SameDiff sd = model.sameDiff();
        List<String> names = new ArrayList<>();
        Map<String, Long> sizes = new LinkedHashMap<>();
        for (SDVariable v : sd.variables()) {
            if (v.getVariableType() == VariableType.VARIABLE) {
                names.add(v.name());
                sizes.put(v.name(), v.getArr().length());
            }
        }
        this.parameters = List.copyOf(names);
        this.trainable = mask.trainable(names);
        List<SDVariable> frozen = new ArrayList<>();
        for (String n : names) if (!mask.isTrainable(n)) frozen.add(sd.getVariable(n));
        sd.convertToConstants(frozen);
        MaskedCrossEntropy.build(sd, sd.getVariable(TextDecoder.LOGITS), model.vocabSize());
        GradientGraph.build(sd);
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String n : trainable) {
            INDArray p = sd.getVariable(n).getArr();
            params.put(n, p);
            grads.put(n, p.ulike());
            shapes.put(n, p.shape());
        }
        this.optimizer = new AdamW(adam, shapes);
        this.summary = mask.name() + ": " + mask.summary(sizes);
    }

    /**
     * One optimizer update over {@code microBatches} (gradient accumulation) at learning rate {@code lr}. The
     * loss is the token mean of the cross-entropy over all supervised tokens of the step.
     */
    public StepResult step(List<MicroBatch> microBatches, double lr) {
        double loss = accumulateGradients(microBatches);
        double norm = GradientClipping.clipGlobalNorm(grads, maxGradNorm);
        List<String> nonFinite = Double.isFinite(norm) ? List.of() : GradientClipping.nonFinite(grads);
        if (nonFinite.isEmpty()) optimizer.update(params, grads, lr);
        int tokens = microBatches.stream().mapToInt(MicroBatch::tokens).sum();
        int supervised = microBatches.stream().mapToInt(MicroBatch::supervisedTokens).sum();
        return new StepResult(loss, norm, lr, tokens, supervised, nonFinite);
    }

    /** The token-mean loss of {@code microBatches} at the current parameters (forward only). */
    public double loss(List<MicroBatch> microBatches) {
        double sum = 0;
        int supervised = 0;
        for (MicroBatch mb : microBatches) {
            Map<String, INDArray> targets = MaskedCrossEntropy.feed(mb.targets(), model.vocabSize());
            Map<String, INDArray> out = model.sameDiff().output(feed(mb, targets), MaskedCrossEntropy.PER_POSITION);
            sum += MaskedCrossEntropy.supervisedSum(out.get(MaskedCrossEntropy.PER_POSITION), mb.targets());
            supervised += mb.supervisedTokens();
            release(out, targets);
        }
        return sum / supervised;
    }

    /**
     * Fills the gradient buffers with ∂loss/∂θ of the token-mean loss over {@code microBatches} (before
     * clipping) and returns that loss. Package-private for the gradient check.
     */
    double accumulateGradients(List<MicroBatch> microBatches) {
        int supervised = microBatches.stream().mapToInt(MicroBatch::supervisedTokens).sum();
        if (supervised == 0) throw new IllegalArgumentException("optimizer step without any supervised token");
        for (INDArray g : grads.values()) g.assign(0);
        double lossSum = 0;
        for (MicroBatch mb : microBatches) {
            Map<String, INDArray> targets = MaskedCrossEntropy.feed(mb.targets(), model.vocabSize());
            OutAndGrad og = model.sameDiff().calculateGradientsAndOutputs(feed(mb, targets), List.of(MaskedCrossEntropy.PER_POSITION), trainable);
            lossSum += MaskedCrossEntropy.supervisedSum(og.getOutputs().get(MaskedCrossEntropy.PER_POSITION), mb.targets());
            for (String n : trainable) {
                INDArray g = og.getGradients().get(n);
                if (g == null) {
                    throw new IllegalStateException("no gradient reached trainable parameter '" + n + "': is it on the path to the logits?");
                }
                grads.get(n).addi(g);
            }
            release(og.getGradients(), og.getOutputs(), targets);
        }
        // The graph's loss is a sum over supervised tokens (see MaskedCrossEntropy): make it the step's token mean.
        for (INDArray g : grads.values()) g.divi(supervised);
        return lossSum / supervised;
    }

    Map<String, INDArray> gradients() {
        return Collections.unmodifiableMap(grads);
    }

    private static Map<String, INDArray> feed(MicroBatch mb, Map<String, INDArray> targets) {
        Map<String, INDArray> feed = new LinkedHashMap<>(mb.feed());
        feed.putAll(targets);
        return feed;
    }

    /**
     * Frees a pass's outputs, gradients and target arrays now. ND4J releases off-heap buffers only when their Java
     * objects are collected, and a heap that holds little else is collected rarely: without this the resident
     * size grows by the step's activations every step (measured: +3 GB per 10 steps on the demo model).
     */
    @SafeVarargs
    private static void release(Map<String, INDArray>... maps) {
        for (Map<String, INDArray> m : maps) {
            for (INDArray a : m.values()) {
                if (a != null && !a.wasClosed() && a.closeable()) a.close();
            }
        }
    }

    /** Restores parameters and optimizer state saved by {@link TrainingCheckpoint}. */
    public void restore(TrainingCheckpoint.Loaded ckpt) {
        if (!ckpt.params().keySet().equals(params.keySet())) {
            throw new IllegalArgumentException(ckpt.dir() + ": checkpoint trains " + ckpt.params().keySet()
                    + " but this stage trains " + params.keySet());
        }
        ckpt.params().forEach((n, p) -> {
            if (!java.util.Arrays.equals(p.shape(), params.get(n).shape())) {
                throw new IllegalArgumentException(ckpt.dir() + ": '" + n + "' has shape " + java.util.Arrays.toString(p.shape())
                        + ", the model " + java.util.Arrays.toString(params.get(n).shape()));
            }
            params.get(n).assign(p);
        });
        optimizer.restore(ckpt.adamStep(), ckpt.expAvg(), ckpt.expAvgSq());
    }

    public FreezeMask mask() {
        return mask;
    }

    /** Every parameter of the model (the checkpoint's tensors), in load order. */
    public List<String> parameters() {
        return parameters;
    }

    public List<String> trainable() {
        return trainable;
    }

    /** The live trainable arrays (the graph's own). */
    public Map<String, INDArray> trainableParams() {
        return Collections.unmodifiableMap(params);
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /** e.g. {@code stage1: trainable 24,576 / total 262,144 (9.38%)}. */
    public String summary() {
        return summary;
    }

    public TrainableModel model() {
        return model;
    }
}
