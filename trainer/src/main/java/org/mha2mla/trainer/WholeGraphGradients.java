package org.mha2mla.trainer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.text.GradientGraph;
import org.mha2mla.layers.text.PassArrays;
import org.mha2mla.layers.text.TextDecoder;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Gradients of a whole model as one SameDiff graph whose variables are its weights under their checkpoint keys: the
 * parameters the {@link FreezeMask} selects stay variables (the graph's own arrays are the trained ones), every other
 * one becomes a SameDiff constant (bitwise unchanged, and with {@code LinearMatmul} no weight gradient formed for it),
 * and the masked cross-entropy is added on the supervised positions' final hidden states ({@link MaskedCrossEntropy}). One backward pass per micro-batch over activations of every
 * layer at once: the fast source while the float32 copies and the activations fit in memory.
 */
public final class WholeGraphGradients implements GradientSource {

    /** The name SameDiff gives a graph's gradient function ({@code SameDiff.GRAD_FN_KEY}). */
    private static final String GRADIENT_FUNCTION = "grad";

    private final SameDiff sd;
    private final long vocab;
    private final Function<List<TrainingExample>, MicroBatch> batcher;
    private final Map<String, Long> sizes = new LinkedHashMap<>();
    private final Map<String, INDArray> trainable = new LinkedHashMap<>();
    /** The gradient passes' arrays, reused from one pass to the next. */
    private final PassArrays arrays = new PassArrays();
    /** The placeholder shapes of the latest pass ({@link #shapes}). */
    private String lastShapes = "";
    /** Whether {@link #sd} is this source's own (a replica's), whose arrays {@link #close} frees. */
    private boolean ownsGraph;

    /**
     * @param sd      a graph holding every parameter as a variable named with its key
     * @param decoder its text decoder: the loss reads the final hidden states and the lm_head weight
     * @param batcher turns examples into the graph's placeholders
     */
    public WholeGraphGradients(SameDiff sd, TextDecoder decoder, FreezeMask mask, Function<List<TrainingExample>, MicroBatch> batcher) {
        this.sd = sd;
        this.vocab = decoder.config().vocabSize();
        this.batcher = batcher;
        List<String> names = new ArrayList<>();
        for (SDVariable v : sd.variables()) {
            if (v.getVariableType() == VariableType.VARIABLE) {
                names.add(v.name());
                sizes.put(v.name(), v.getArr().length());
            }
        }
        List<SDVariable> frozen = new ArrayList<>();
        for (String n : mask.trainable(names)) trainable.put(n, sd.getVariable(n).getArr());
        for (String n : names) if (!trainable.containsKey(n)) frozen.add(sd.getVariable(n));
        if (!frozen.isEmpty()) sd.convertToConstants(frozen);
        MaskedCrossEntropy.build(sd, sd.getVariable(TextDecoder.hiddenState(decoder.numLayers())), decoder.lmHeadWeight(),
                decoder.config().hiddenSize());
        GradientGraph.build(sd);
    }

    /** The text decoder of {@code model} as one graph ({@link VisionLanguageModel#graph}); images enter as inference. */
    public static WholeGraphGradients decoder(VisionLanguageModel model, FreezeMask mask) {
        TextDecoder graph = model.graph();
        return new WholeGraphGradients(graph.sameDiff(), graph, mask, examples -> MicroBatch.of(model, examples));
    }

    /**
     * The text decoder of {@code model} on {@code replicas} graphs ({@link ReplicatedGradients}): the model's own
     * {@link VisionLanguageModel#graph} trains, each further replica is a {@link VisionLanguageModel#newGraph} of its own.
     * One replica is {@link #decoder}.
     */
    public static GradientSource onReplicas(VisionLanguageModel model, FreezeMask mask, int replicas) {
        if (replicas < 1) throw new IllegalArgumentException("need at least one replica, got " + replicas);
        if (replicas == 1) return decoder(model, mask);
        List<GradientSource> sources = new ArrayList<>();
        sources.add(decoder(model, mask));
        for (int r = 1; r < replicas; r++) {
            TextDecoder graph = model.newGraph();
            WholeGraphGradients replica = new WholeGraphGradients(graph.sameDiff(), graph, mask, examples -> MicroBatch.of(model, examples));
            replica.ownsGraph = true;
            sources.add(replica);
        }
        return new ReplicatedGradients(sources);
    }

    public SameDiff sameDiff() {
        return sd;
    }

    @Override
    public Map<String, Long> parameterSizes() {
        return Collections.unmodifiableMap(sizes);
    }

    @Override
    public Map<String, INDArray> trainable() {
        return Collections.unmodifiableMap(trainable);
    }

    @Override
    public MicroBatch batch(List<TrainingExample> examples) {
        return batcher.apply(examples);
    }

    @Override
    public double accumulate(Batch batch, Map<String, INDArray> grads) {
        MicroBatch mb = (MicroBatch) batch;
        Map<String, INDArray> targets = MaskedCrossEntropy.feed(mb.targets(), vocab);
        Map<String, INDArray> feed = feed(mb, targets);
        // The previous pass's arrays serve this one when every placeholder has the same shape (its outputs were
        // consumed below before it returned); a micro-batch of other shapes frees them first.
        arrays.install(sd.getFunction(GRADIENT_FUNCTION));
        String shapes = PassArrays.shapes(feed);
        if (shapes.equals(lastShapes)) arrays.recycle();
        else arrays.clear();
        lastShapes = shapes;
        OutAndGrad og = sd.calculateGradientsAndOutputs(feed, List.of(MaskedCrossEntropy.PER_POSITION), trainable.keySet());
        double sum = MaskedCrossEntropy.supervisedSum(og.getOutputs().get(MaskedCrossEntropy.PER_POSITION));
        for (String n : trainable.keySet()) {
            INDArray g = og.getGradients().get(n);
            if (g == null) {
                throw new IllegalStateException("no gradient reached trainable parameter '" + n + "': is it on the path to the logits?");
            }
            grads.get(n).addi(g);
        }
        // The pass's own arrays stay with PassArrays for the next pass; whatever else it returned is freed now.
        release(notOwned(og.getGradients(), arrays), notOwned(og.getOutputs(), arrays), targets);
        return sum;
    }

    @Override
    public double lossSum(Batch batch) {
        MicroBatch mb = (MicroBatch) batch;
        Map<String, INDArray> targets = MaskedCrossEntropy.feed(mb.targets(), vocab);
        Map<String, INDArray> out = sd.output(feed(mb, targets), MaskedCrossEntropy.PER_POSITION);
        double sum = MaskedCrossEntropy.supervisedSum(out.get(MaskedCrossEntropy.PER_POSITION));
        release(out, targets);
        return sum;
    }


    private static Map<String, INDArray> notOwned(Map<String, INDArray> out, PassArrays arrays) {
        Map<String, INDArray> rest = new LinkedHashMap<>(out);
        rest.values().removeIf(a -> a == null || arrays.owns(a));
        return rest;
    }

    private static Map<String, INDArray> feed(MicroBatch mb, Map<String, INDArray> targets) {
        Map<String, INDArray> feed = new LinkedHashMap<>(mb.feed());
        feed.putAll(targets);
        return feed;
    }

    /**
     * Frees a pass's outputs, gradients and target arrays now. ND4J releases off-heap buffers only when their Java
     * objects are collected, and a heap that holds little else is collected rarely: without this the resident
     * size grows by the step's activations every step.
     */
    @SafeVarargs
    static void release(Map<String, INDArray>... maps) {
        for (Map<String, INDArray> m : maps) {
            for (INDArray a : m.values()) {
                if (a != null && !a.wasClosed() && a.closeable()) a.close();
            }
        }
    }

    /**
     * Frees the gradient passes' arrays; the graph stays with its model (a model's {@link VisionLanguageModel#graph} is
     * closed with the model), unless it is a replica's own, whose weight copies go as well.
     */
    @Override
    public void close() {
        arrays.close();
        if (ownsGraph) {
            for (SDVariable v : sd.variables()) {
                INDArray a = v.getVariableType() == VariableType.VARIABLE || v.getVariableType() == VariableType.CONSTANT ? v.getArr() : null;
                if (a != null && !a.wasClosed() && a.closeable()) a.close();
            }
        }
    }
}
