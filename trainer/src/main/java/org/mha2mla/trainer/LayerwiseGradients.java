package org.mha2mla.trainer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.DecoderLayer;
import org.mha2mla.layers.text.GradientGraph;
import org.mha2mla.layers.text.TextDecoder;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.array.SingleThreadArrayHolder;
import org.nd4j.autodiff.samediff.internal.InferenceSession;
import org.nd4j.autodiff.samediff.internal.SessionMemMgr;
import org.nd4j.autodiff.samediff.internal.memory.ArrayCacheMemoryMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Gradients of the decoder one layer at a time, for models larger than memory (activation checkpointing, as
 * {@code torch.utils.checkpoint} per layer):
 * <pre>
 *   forward   h₀ = inputs_embeds;  h_{i+1} = layer_i(h_i)          keeping only each layer's input h_i
 *   head      x = RMSNorm(h_L) of the supervised positions;  CE and ∂CE/∂h_L with the lm_head read in vocabulary
 *             slices ({@link SlicedCrossEntropy}), through the norm's closed-form backward
 *   backward  for i = L−1 … 0:  run layer i again on h_i and back-propagate g_{i+1} = ∂CE/∂h_{i+1}:
 *             ∂CE/∂θ_i and g_i = ∂CE/∂h_i in one SameDiff gradient pass of the loss Σ layer_i(h_i) ⊙ g_{i+1}
 *             (a vector–Jacobian product)
 * </pre>
 * Each layer is a graph of its own built by the same builders as the whole decoder ({@link DecoderLayer} and the
 * model's attention), in which the layer's trainable tensors are SameDiff variables over float32 masters held here
 * (the optimizer updates them in place) and its frozen tensors are placeholders, widened from their stored dtype into
 * float32 buffers shared by all layers and released (unmapped) after use. Frozen linears form no weight gradient
 * ({@code LinearMatmul}); the embeddings, the final norm and the lm_head stay frozen, and the vision tower runs as
 * inference ({@link MicroBatch#of}). Memory: the masters and the optimizer's three float32 copies of the trainable
 * tensors, one layer's frozen weights in float32, one layer's activations, and h_i of every layer.
 *
 * <p>Trains tensors of the decoder layers only; a mask that selects anything else needs {@link WholeGraphGradients}.
 * Not thread-safe: one pass at a time, on one thread (the layer graphs run on the allocator of the thread that built them).
 */
public final class LayerwiseGradients implements GradientSource {

    /** A layer graph's input hidden states [B, L, d]. */
    static final String X = "x";
    /** A layer graph's output hidden states [B, L, d]. */
    static final String OUT = "out";
    /** The gradient arriving at a layer's output [B, L, d]. */
    static final String GRAD_OUT = "grad_out";
    static final String LOSS = "vjp";
    /** Share of ND4J's memory limit that released activations may stay cached in, for all layer graphs together. */
    static final double SESSION_CACHE_FRACTION = 0.1;

    private final VisionLanguageModel model;
    private final TextConfig config;
    private final String layerPrefix;
    private final Map<String, Long> sizes = new LinkedHashMap<>();
    private final Map<String, INDArray> trainable = new LinkedHashMap<>();
    private final List<List<String>> layerKeys = new ArrayList<>();
    private final SameDiff[] graphs;
    private final Map<String, INDArray> buffers = new HashMap<>();
    /** The memory of every layer graph's executions (see {@link #shareMemory}). */
    private final SessionMemMgr memory = new ArrayCacheMemoryMgr(SESSION_CACHE_FRACTION, 1024, 2.0);
    /** The lowest layer with a trainable tensor: the backward pass stops there. */
    private final int lowest;

    public LayerwiseGradients(VisionLanguageModel model, FreezeMask mask) {
        this.model = model;
        this.config = model.config().textConfig();
        this.layerPrefix = model.decoderPrefix() + "layers.";
        TensorSource weights = model.weights();
        int layers = config.numHiddenLayers();
        for (int i = 0; i < layers; i++) layerKeys.add(new ArrayList<>());
        for (String key : weights.names()) {
            if (!key.startsWith(model.decoderPrefix()) && !key.equals(model.lmHeadKey())) continue;
            sizes.put(key, numel(weights.info(key).shape()));
            int layer = layerOf(key);
            if (layer >= 0) layerKeys.get(layer).add(key);
        }
        int low = layers;
        for (String key : mask.trainable(sizes.keySet())) {
            int layer = layerOf(key);
            if (layer < 0) {
                throw new IllegalArgumentException("mha2mla: the layer-by-layer gradient source trains tensors of the decoder layers only, and '"
                        + key + "' is not one; train it with the whole-graph source (--gradients graph)");
            }
            low = Math.min(low, layer);
            try (StoredTensor t = weights.stored(key)) {
                INDArray master = Nd4j.createUninitialized(DataType.FLOAT, t.shape());
                t.widenInto(master);
                trainable.put(key, master);
            }
        }
        this.lowest = low;
        this.graphs = new SameDiff[layers];
    }

    /** The decoder layer of a key under {@code prefix + "layers.N."}, or −1. */
    private int layerOf(String key) {
        if (!key.startsWith(layerPrefix)) return -1;
        int dot = key.indexOf('.', layerPrefix.length());
        if (dot < 0) return -1;
        try {
            int layer = Integer.parseInt(key.substring(layerPrefix.length(), dot));
            return layer < layerKeys.size() ? layer : -1;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
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
        return MicroBatch.of(model, examples);
    }

    @Override
    public double accumulate(Batch batch, Map<String, INDArray> grads) {
        MicroBatch mb = (MicroBatch) batch;
        DecoderInput in = mb.decoderInput();
        INDArray[] inputs = new INDArray[graphs.length];
        INDArray h = in.inputsEmbeds();
        for (int i = 0; i < graphs.length; i++) {
            inputs[i] = h;
            h = forward(i, h, in);
        }
        INDArray g = Nd4j.zeros(DataType.FLOAT, h.shape());
        double sum = head(h, mb.targets(), g);
        h.close();
        for (int i = graphs.length - 1; i >= lowest; i--) {
            INDArray below = backward(i, inputs[i], in, g, grads, i > lowest);
            g.close();
            if (i > 0) inputs[i].close();
            g = below;
        }
        if (g != null) g.close();
        for (int i = 1; i < lowest; i++) inputs[i].close();
        return sum;
    }

    @Override
    public double lossSum(Batch batch) {
        MicroBatch mb = (MicroBatch) batch;
        DecoderInput in = mb.decoderInput();
        INDArray h = in.inputsEmbeds();
        for (int i = 0; i < graphs.length; i++) {
            INDArray next = forward(i, h, in);
            if (i > 0) h.close();
            h = next;
        }
        INDArray g = Nd4j.zeros(DataType.FLOAT, h.shape());
        double sum = head(h, mb.targets(), g);
        h.close();
        g.close();
        return sum;
    }

    /** Layer i's output on {@code h}. */
    private INDArray forward(int layer, INDArray h, DecoderInput in) {
        List<StoredTensor> open = new ArrayList<>();
        try {
            return graph(layer).output(feed(layer, h, in, open), OUT).get(OUT);
        } finally {
            open.forEach(StoredTensor::close);
        }
    }

    /**
     * Adds layer i's ∂CE/∂θ to {@code grads} given {@code gradOut} = ∂CE/∂(its output), and returns ∂CE/∂h (its input)
     * when {@code inputGradient}, else null.
     */
    private INDArray backward(int layer, INDArray h, DecoderInput in, INDArray gradOut, Map<String, INDArray> grads,
                              boolean inputGradient) {
        List<StoredTensor> open = new ArrayList<>();
        Map<String, INDArray> out;
        List<String> wanted = new ArrayList<>();
        for (String key : layerKeys.get(layer)) if (trainable.containsKey(key)) wanted.add(key);
        if (inputGradient) wanted.add(X);
        try {
            Map<String, INDArray> feed = feed(layer, h, in, open);
            feed.put(GRAD_OUT, gradOut);
            out = graph(layer).calculateGradients(feed, wanted);
        } finally {
            open.forEach(StoredTensor::close);
        }
        for (String key : wanted) {
            if (key.equals(X)) continue;
            INDArray g = out.get(key);
            if (g == null) {
                throw new IllegalStateException("no gradient reached trainable parameter '" + key + "': is it on the path to the logits?");
            }
            grads.get(key).addi(g);
            g.close();
        }
        return inputGradient ? out.get(X) : null;
    }

    /** The placeholders of layer i: the pass's inputs and its frozen weights, widened from their stored dtype. */
    private Map<String, INDArray> feed(int layer, INDArray h, DecoderInput in, List<StoredTensor> open) {
        Map<String, INDArray> feed = new HashMap<>();
        feed.put(X, h);
        feed.put(TextDecoder.COS, in.rope().cos());
        feed.put(TextDecoder.SIN, in.rope().sin());
        feed.put(TextDecoder.ATTENTION_MASK, in.attentionMask());
        feed.put(TextDecoder.MODALITY, in.modality());
        String prefix = layerPrefix + layer + ".";
        for (String key : layerKeys.get(layer)) {
            if (trainable.containsKey(key)) continue;
            StoredTensor t = model.weights().stored(key);
            open.add(t);
            feed.put(key, widened(key.substring(prefix.length()), t));
        }
        return feed;
    }

    /** The float32 array a frozen layer weight is widened into, shared by the same weight of every layer. */
    private INDArray widened(String local, StoredTensor t) {
        INDArray buffer = buffers.get(local);
        if (buffer == null || !Arrays.equals(buffer.shape(), t.shape())) {
            buffer = Nd4j.createUninitialized(DataType.FLOAT, t.shape());
            buffers.put(local, buffer);
        }
        t.widenInto(buffer);
        return buffer;
    }

    /**
     * Layer i's graph: {@link DecoderLayer} over its weights (trainable ones as variables over the masters, frozen ones
     * as placeholders), and the loss Σ out ⊙ grad_out whose gradient is the layer's vector–Jacobian product.
     */
    private SameDiff graph(int layer) {
        if (graphs[layer] != null) return graphs[layer];
        SameDiff sd = SameDiff.create();
        // The default ThreadSafeArrayHolder would keep a second copy of every master.
        sd.setArrayHolders(new SingleThreadArrayHolder(), new SingleThreadArrayHolder(), false);
        for (String key : layerKeys.get(layer)) {
            if (trainable.containsKey(key)) sd.var(key, trainable.get(key));
            else sd.placeHolder(key, DataType.FLOAT, model.weights().info(key).shape());
        }
        long d = config.hiddenSize();
        int dH = config.headDim();
        SDVariable x = sd.placeHolder(X, DataType.FLOAT, -1, -1, d);
        SDVariable cos = sd.placeHolder(TextDecoder.COS, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable sin = sd.placeHolder(TextDecoder.SIN, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable mask = sd.placeHolder(TextDecoder.ATTENTION_MASK, DataType.FLOAT, -1, -1, -1, -1);
        SDVariable modality = sd.placeHolder(TextDecoder.MODALITY, DataType.FLOAT, -1, -1);
        DecoderAttention attention = model.attention().create(sd, layer);
        String key = layerPrefix + layer;
        DecoderAttention.Result r = new DecoderLayer(sd, config, key, attention)
                .forward(TextDecoder.layerScope(layer), x, cos, sin, mask, modality, null);
        SDVariable out = sd.identity(OUT, r.output());
        SDVariable gradOut = sd.placeHolder(GRAD_OUT, DataType.FLOAT, -1, -1, d);
        sd.setLossVariables(sd.sum(LOSS, out.mul(gradOut)));
        GradientGraph.build(sd, X);
        shareMemory(sd, memory);
        shareMemory(sd.getFunction("grad"), memory);
        graphs[layer] = sd;
        return sd;
    }

    /**
     * Makes {@code sd} run on this thread with {@code memory} as its allocator. SameDiff gives every graph (and its
     * gradient function) a session per thread whose allocator keeps released activations for reuse, up to a quarter of
     * ND4J's memory limit each: with a graph per layer, and its gradient graph, that is up to 2·L caches, which at 7B
     * width grow to gigabytes each and together past the machine. One allocator for all layers bounds the cache once
     * ({@link #SESSION_CACHE_FRACTION}), and the layers, whose activations have the same shapes, reuse each other's
     * arrays. The session map is private in SameDiff M2.1; the session is put there as SameDiff would create it.
     */
    @SuppressWarnings("unchecked")
    private static void shareMemory(SameDiff sd, SessionMemMgr memory) {
        try {
            java.lang.reflect.Field f = SameDiff.class.getDeclaredField("sessions");
            f.setAccessible(true);
            Map<Long, InferenceSession> sessions = (Map<Long, InferenceSession>) f.get(sd);
            InferenceSession session = new InferenceSession(sd);
            session.setMmgr(memory);
            sessions.put(Thread.currentThread().getId(), session);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("cannot give a layer graph its allocator (ND4J version without SameDiff.sessions?): " + e, e);
        }
    }

    /**
     * The supervised positions' cross-entropy summed, from the last layer's output {@code h} [B, L, d]; writes ∂/∂h into
     * {@code gradient} (zero at every other position).
     */
    private double head(INDArray h, long[][] targets, INDArray gradient) {
        long d = config.hiddenSize();
        int length = targets[0].length;
        List<Integer> positions = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (int b = 0; b < targets.length; b++) {
            for (int t = 0; t < length; t++) {
                if (targets[b][t] == LossMask.IGNORE_INDEX) continue;
                positions.add(b * length + t);
                labels.add((int) targets[b][t]);
            }
        }
        INDArray flat = h.reshape(-1, d);
        int[] rowIndex = positions.stream().mapToInt(Integer::intValue).toArray();
        INDArray rows = flat.getRows(rowIndex);                                        // [S, d]
        INDArray weight;
        try (StoredTensor w = model.weights().stored(model.decoderPrefix() + "norm.weight")) {
            weight = w.floats().reshape(d);
        }
        FinalNorm norm = new FinalNorm(rows, weight, config.rmsNormEps());
        INDArray dNormed = Nd4j.createUninitialized(DataType.FLOAT, rows.shape());
        double sum;
        try (StoredTensor lmHead = model.weights().stored(model.lmHeadKey())) {
            sum = SlicedCrossEntropy.lossAndGradient(norm.normed, labels.stream().mapToInt(Integer::intValue).toArray(), lmHead, dNormed);
        }
        INDArray dRows = norm.backward(dNormed);
        INDArray gFlat = gradient.reshape(-1, d);
        for (int r = 0; r < rowIndex.length; r++) gFlat.getRow(rowIndex[r]).assign(dRows.getRow(r));
        return sum;
    }

    /**
     * The decoder's final RMSNorm on rows [S, d], n = w ⊙ x · ρ with ρ = (mean(x²) + ε)^(−1/2), and its backward pass in
     * closed form: ∂/∂x_i = ρ·w_i·g_i − x_i·(ρ³/d)·Σ_j g_j·w_j·x_j.
     */
    static final class FinalNorm {
        final INDArray x;
        final INDArray weight;
        final INDArray inverseRms;
        final INDArray normed;

        FinalNorm(INDArray x, INDArray weight, double eps) {
            this.x = x;
            this.weight = weight;
            this.inverseRms = org.nd4j.linalg.ops.transforms.Transforms.pow(x.mul(x).mean(1).addi(eps), -0.5, false);   // [S]
            this.normed = x.mulColumnVector(inverseRms).muliRowVector(weight);
        }

        INDArray backward(INDArray g) {
            long d = x.size(1);
            INDArray gw = g.mulRowVector(weight);                                              // g ⊙ w
            INDArray dot = gw.mul(x).sum(1);                                                   // Σ_j g_j w_j x_j
            INDArray rho3 = inverseRms.mul(inverseRms).muli(inverseRms);
            INDArray dx = gw.muliColumnVector(inverseRms);
            return dx.subi(x.mulColumnVector(rho3.muli(dot).divi(d)));
        }
    }

    @Override
    public void close() {
        buffers.clear();
        Arrays.fill(graphs, null);
        memory.close();
    }
}
