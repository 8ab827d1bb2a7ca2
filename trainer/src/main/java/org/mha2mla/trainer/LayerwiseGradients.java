package org.mha2mla.trainer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.text.BlockRunner;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.DecoderLayer;
import org.mha2mla.layers.text.GradientGraph;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.autodiff.listeners.Listener;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

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
 * model's attention) and run by a {@link BlockRunner}, as the inference path's layers are: the layer's trainable tensors
 * are SameDiff variables over float32 masters held here (the optimizer updates them in place) and its frozen tensors are
 * placeholders, widened from their stored dtype into float32 buffers shared by all layers and released (unmapped) after
 * use; every layer graph and its gradient function allocate from the runner's one activation cache. Frozen linears form no weight gradient
 * ({@code LinearMatmul}); the embeddings, the final norm and the lm_head stay frozen, and the vision tower runs as
 * inference ({@link MicroBatch#of}). Memory: the masters and the optimizer's three float32 copies of the trainable
 * tensors, one layer's frozen weights in float32, one layer's activations, and h_i of every layer. A long sequence's
 * layer runs in query blocks ({@link #QUERY_BLOCK_BYTES}) through a second graph of the layer, built only then: block
 * b's graph takes its query rows and the rows before them for the keys and values ({@link LayerwiseDecoder#keyRows}),
 * and its vector–Jacobian product with g_{i+1} of its rows gives the parameters' share and ∂/∂h_i through both inputs;
 * the shares of all blocks sum to the layer's.
 *
 * <p>Trains tensors of the decoder layers only; a mask that selects anything else needs {@link WholeGraphGradients}.
 * Not thread-safe: one pass at a time, on one thread (the layer graphs run on the allocator of the thread that built them).
 */
public final class LayerwiseGradients implements GradientSource {

    /** A layer graph's input hidden states [B, L, d] (the keys' and values' rows). */
    static final String X = LayerwiseDecoder.X;
    /** A layer graph's query rows [B, L_q, d]. */
    static final String QUERY_X = LayerwiseDecoder.QUERY_X;
    /** A layer graph's output hidden states [B, L_q, d]. */
    static final String OUT = "out";
    /** The gradient arriving at the query rows' output [B, L_q, d]. */
    static final String GRAD_OUT = "grad_out";
    static final String LOSS = "vjp";
    /**
     * Share of JavaCPP's memory limit that released activations may stay cached in, for all layer graphs together (the
     * inputs of every layer are held besides; the gradient passes allocate from {@code PassArrays}).
     */
    static final double SESSION_CACHE_FRACTION = 0.1;
    /**
     * Bytes of one [B, n_h, L_q, T] attention array of a gradient pass's query block: half of inference's
     * {@link LayerwiseDecoder#QUERY_BLOCK_BYTES}, since a gradient pass holds many more arrays per block. Measured on a
     * 2-layer LLaVA-NeXT slice (stage 2, one 3,075-token example): peak resident 16.1 GB in blocks of 256 MiB (682 rows),
     * 8.5 GB in blocks of 64 MiB (170 rows), at 1.2–1.45× the time per layer (each block also runs the keys' rows).
     */
    public static final long QUERY_BLOCK_BYTES = 64L << 20;

    private final VisionLanguageModel model;
    private final TextConfig config;
    private final String layerPrefix;
    private final Map<String, Long> sizes = new LinkedHashMap<>();
    private final Map<String, INDArray> trainable = new LinkedHashMap<>();
    private final List<List<String>> layerKeys = new ArrayList<>();
    /**
     * Each layer's whole-sequence graph and its query-block graph (for the gradient passes), built when first needed, and
     * the attention of the first; the forward passes' query blocks run over cache tensors ({@link LayerwiseDecoder#attend}).
     */
    private final BlockRunner.Block[] graphs;
    private final BlockRunner.Block[] queryBlockGraphs;
    private final BlockRunner.Block[] attendGraphs;
    private final DecoderAttention[] attentions;
    /** Feeds each layer graph its frozen weights in float32 and gives all of them one activation cache. */
    private final BlockRunner runner;
    /** The lowest layer with a trainable tensor: the backward pass stops there. */
    private final int lowest;
    private final long queryBlockBytes;
    private Consumer<String> progress = where -> { };

    public LayerwiseGradients(VisionLanguageModel model, FreezeMask mask) {
        this(model, mask, QUERY_BLOCK_BYTES);
    }

    /** With {@code queryBlockBytes} in place of {@link #QUERY_BLOCK_BYTES} (tests split short sequences). */
    LayerwiseGradients(VisionLanguageModel model, FreezeMask mask, long queryBlockBytes) {
        this.queryBlockBytes = queryBlockBytes;
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
        this.graphs = new BlockRunner.Block[layers];
        this.queryBlockGraphs = new BlockRunner.Block[layers];
        this.attendGraphs = new BlockRunner.Block[layers];
        this.attentions = new DecoderAttention[layers];
        this.runner = new BlockRunner(weights, LayerwiseDecoder.Residency.RELEASE, SESSION_CACHE_FRACTION);
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
            progress.accept("forward layer " + (i + 1) + "/" + graphs.length);
            inputs[i] = h;
            h = forward(i, h, in);
            collectLayerGarbage();
        }
        INDArray g = Nd4j.zeros(DataType.FLOAT, h.shape());
        progress.accept("lm_head");
        double sum = head(h, mb.targets(), g);
        h.close();
        for (int i = graphs.length - 1; i >= lowest; i--) {
            progress.accept("backward layer " + (i + 1) + "/" + graphs.length);
            INDArray below = backward(i, inputs[i], in, g, grads, i > lowest);
            g.close();
            if (i > 0) inputs[i].close();
            g = below;
            collectLayerGarbage();
        }
        if (g != null) g.close();
        for (int i = 1; i < lowest; i++) inputs[i].close();
        runner.releaseGradientArrays();
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

    /**
     * A full collection after each layer's pass and each query block's: the arrays a pass leaves behind live off-heap and
     * go back only when the JVM collects their wrappers, which a small, quiet heap does not do within one update (the
     * stage-2 update of Qwen2.5-VL-7B piled them up to 24 GB over its 28 layers; a 2-layer LLaVA-NeXT slice at 2,962
     * tokens, to 23 GB over the query blocks of one layer's gradient pass).
     */
    private static void collectLayerGarbage() {
        System.gc();
    }

    /** Query rows per block of a pass over {@code h} [B, L, d]. */
    private long queryRows(INDArray h) {
        return LayerwiseDecoder.queryRows(h.size(0), config.numAttentionHeads(), h.size(1), queryBlockBytes);
    }

    /** Layer i's output on {@code h}, one query block at a time over the cache tensors of all rows. */
    private INDArray forward(int layer, INDArray h, DecoderInput in) {
        long rows = queryRows(h);
        BlockRunner.Block whole = graph(layer, false);
        if (rows == h.size(1)) return runner.run(whole, LayerwiseDecoder.inputs(h, in), OUT).get(OUT);
        return LayerwiseDecoder.inQueryBlocks(runner, whole, attendGraph(layer), attentions[layer].cacheTensors(),
                config.numAttentionHeads(), layer, h, in, rows, OUT).get(OUT);
    }

    /**
     * Adds layer i's ∂CE/∂θ to {@code grads} given {@code gradOut} = ∂CE/∂(its output), and returns ∂CE/∂h (its input)
     * when {@code inputGradient}, else null.
     */
    private INDArray backward(int layer, INDArray h, DecoderInput in, INDArray gradOut, Map<String, INDArray> grads,
                              boolean inputGradient) {
        long length = h.size(1);
        long rows = queryRows(h);
        boolean blocks = rows < length;
        List<String> wanted = new ArrayList<>();
        for (String key : layerKeys.get(layer)) if (trainable.containsKey(key)) wanted.add(key);
        if (inputGradient) {
            wanted.add(X);
            if (blocks) wanted.add(QUERY_X);
        }
        INDArray below = inputGradient ? Nd4j.zeros(DataType.FLOAT, h.shape()) : null;
        for (long from = 0; from < length; from += rows) {
            long to = Math.min(length, from + rows);
            long keys = blocks ? LayerwiseDecoder.keyRows(in.attentionMask(), from, to, LayerwiseDecoder.keyQuantum(length, rows)) : length;
            Map<String, INDArray> feed = blocks ? LayerwiseDecoder.inputs(h, in, from, to, keys) : LayerwiseDecoder.inputs(h, in);
            feed.put(GRAD_OUT, blocks ? LayerwiseDecoder.rows(gradOut, 1, from, to) : gradOut);
            Map<String, INDArray> out = runner.gradients(graph(layer, blocks), feed, wanted);
            for (String key : wanted) {
                INDArray g = out.get(key);
                if (g == null) {
                    throw new IllegalStateException("no gradient reached trainable parameter '" + key + "': is it on the path to the logits?");
                }
                if (key.equals(X)) below.get(NDArrayIndex.all(), NDArrayIndex.interval(0, keys), NDArrayIndex.all()).addi(g);
                else if (key.equals(QUERY_X)) below.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all()).addi(g);
                else grads.get(key).addi(g);
                g.close();
            }
            if (blocks) collectLayerGarbage();
        }
        return below;
    }

    /**
     * Layer i's whole-sequence graph or, with {@code queryBlocks}, its query-block graph: {@link LayerwiseDecoder#forward}
     * over its weights (trainable ones as variables over the masters, which both graphs share; frozen ones as
     * placeholders), and the loss Σ out ⊙ grad_out whose gradient is the layer's vector–Jacobian product.
     */
    private BlockRunner.Block graph(int layer, boolean queryBlocks) {
        BlockRunner.Block[] built = queryBlocks ? queryBlockGraphs : graphs;
        if (built[layer] != null) return built[layer];
        String key = layerPrefix + layer;
        BlockRunner.Block block = layerBlock(layer);
        SameDiff sd = block.sd();
        DecoderAttention attention = model.attention().create(sd, layer);
        DecoderAttention.Result r = LayerwiseDecoder.forward(sd, config, key, attention, layer, queryBlocks);
        SDVariable out = sd.identity(OUT, r.output());
        if (!queryBlocks) {
            attentions[layer] = attention;
            LayerwiseDecoder.namePresent(sd, attention, r);
        }
        SDVariable gradOut = sd.placeHolder(GRAD_OUT, DataType.FLOAT, -1, -1, config.hiddenSize());
        sd.setLossVariables(sd.sum(LOSS, out.mul(gradOut)));
        if (queryBlocks) GradientGraph.build(sd, X, QUERY_X);
        else GradientGraph.build(sd, X);
        built[layer] = block;
        return block;
    }

    /** Layer i's query-block graph for the forward passes ({@link LayerwiseDecoder#attend}), over the same weights. */
    private BlockRunner.Block attendGraph(int layer) {
        if (attendGraphs[layer] != null) return attendGraphs[layer];
        BlockRunner.Block block = layerBlock(layer);
        SameDiff sd = block.sd();
        sd.identity(OUT, LayerwiseDecoder.attend(sd, config, layerPrefix + layer, model.attention().create(sd, layer), layer).output());
        attendGraphs[layer] = block;
        return block;
    }

    /** A new graph for layer i: its frozen weights as placeholders, its trainable ones as variables over the masters. */
    private BlockRunner.Block layerBlock(int layer) {
        Set<String> frozen = new HashSet<>(layerKeys.get(layer));
        frozen.removeAll(trainable.keySet());
        BlockRunner.Block block = runner.block(layerPrefix + layer + ".", frozen::contains);
        for (String k : layerKeys.get(layer)) if (trainable.containsKey(k)) block.sd().var(k, trainable.get(k));
        return block;
    }

    @Override
    public void reportProgress(Consumer<String> where) {
        this.progress = where;
    }

    /** Attaches {@code listeners} to every layer graph, built or to come (e.g. per-op timing); none detaches. */
    public void setListeners(Listener... listeners) {
        runner.setListeners(listeners);
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
        Arrays.fill(graphs, null);
        Arrays.fill(queryBlockGraphs, null);
        runner.close();
    }
}
