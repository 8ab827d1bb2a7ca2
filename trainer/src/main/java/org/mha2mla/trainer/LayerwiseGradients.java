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
 * tensors, one layer's frozen weights in float32, one layer's activations, and h_i of every layer.
 *
 * <p>A long sequence's layer runs in query blocks ({@link #QUERY_BLOCK_BYTES}), its keys' side once, as inference's
 * passes do ({@link LayerwiseDecoder#inQueryBlocks}). Its gradient pass splits the layer's vector–Jacobian product
 * the same way, with the cache tensors P = keys(h_i) (K and V; MLA's latent and k_rope) between the two sides:
 * <pre>
 *   P          = keys(h_i)                                   the whole-sequence graph asked for P alone
 *   block b    out_b = attend(h_i[rows_b], P[0, T_b])        the query-block graph ({@link LayerwiseDecoder#attend});
 *              its VJP with g_{i+1}[rows_b] gives the parameters of the query side, ∂/∂h_i[rows_b] and ∂/∂P[0, T_b]
 *   keys       VJP of keys with ∂/∂P = Σ_b ∂/∂P[0, T_b]     the parameters of the keys' side and their ∂/∂h_i
 * </pre>
 * so each key row is projected three times per layer and update (the forward pass, P before the blocks, and the keys'
 * VJP) instead of once per block that sees it in the backward pass (LLaVA-NeXT's 3,075-token training example: its 19
 * blocks of 170 rows see 37,800 key rows, 12.3 times its rows).
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
    /** Prefix of the keys' graph's placeholders of ∂/∂P, one per cache tensor (e.g. {@code grad.present.key}). */
    static final String GRAD_PREFIX = "grad.";
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
     * 8.5 GB in blocks of 64 MiB (170 rows), when each block still projected its own key rows (benchmarks/scale).
     */
    public static final long QUERY_BLOCK_BYTES = 64L << 20;

    private final VisionLanguageModel model;
    private final TextConfig config;
    private final String layerPrefix;
    private final Map<String, Long> sizes = new LinkedHashMap<>();
    private final Map<String, INDArray> trainable = new LinkedHashMap<>();
    private final List<List<String>> layerKeys = new ArrayList<>();
    /**
     * Each layer's graphs, built when first needed: the whole sequence's (with the VJP of a pass in one block), the query
     * blocks' over cache tensors ({@link LayerwiseDecoder#attend}, with their VJP) and the keys' side's VJP; and the
     * layer's attention.
     */
    private final LayerGraphs[] graphs;
    /** Feeds each layer graph its frozen weights in float32 and gives all of them one activation cache. */
    private final BlockRunner runner;
    /** The lowest layer with a trainable tensor: the backward pass stops there. */
    private final int lowest;
    private final long queryBlockBytes;
    private final CollectionBudget collections = CollectionBudget.ofProcess();
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
        this.graphs = new LayerGraphs[layers];
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
     * A full collection after a layer's pass or a query block's once a gigabyte has piled up ({@link CollectionBudget}):
     * the arrays a pass leaves behind live off-heap and go back only when the JVM collects their wrappers, which a
     * small, quiet heap does not do within one update (the stage-2 update of Qwen2.5-VL-7B piled them up to 24 GB over
     * its 28 layers; a 2-layer LLaVA-NeXT slice at 2,962 tokens, to 23 GB over the query blocks of one layer's gradient
     * pass).
     */
    private void collectLayerGarbage() {
        collections.maybeCollect();
    }

    /** Query rows per block of a pass over {@code h} [B, L, d]. */
    private long queryRows(INDArray h) {
        return LayerwiseDecoder.queryRows(h.size(0), config.numAttentionHeads(), h.size(1), queryBlockBytes);
    }

    /** Layer i's output on {@code h}, one query block at a time over the cache tensors of all rows. */
    private INDArray forward(int layer, INDArray h, DecoderInput in) {
        long rows = queryRows(h);
        LayerGraphs g = graphs(layer);
        if (rows == h.size(1)) return runner.run(g.whole, LayerwiseDecoder.inputs(h, in), OUT).get(OUT);
        return LayerwiseDecoder.inQueryBlocks(runner, g.whole, g.attend(), g.attention.cacheTensors(), config.numAttentionHeads(),
                layer, h, in, rows, OUT).get(OUT);
    }

    /**
     * Adds layer i's ∂CE/∂θ to {@code grads} given {@code gradOut} = ∂CE/∂(its output), and returns ∂CE/∂h (its input)
     * when {@code inputGradient}, else null.
     */
    private INDArray backward(int layer, INDArray h, DecoderInput in, INDArray gradOut, Map<String, INDArray> grads,
                              boolean inputGradient) {
        LayerGraphs g = graphs(layer);
        long rows = queryRows(h);
        if (rows == h.size(1)) {
            Map<String, INDArray> feed = LayerwiseDecoder.inputs(h, in);
            feed.put(GRAD_OUT, gradOut);
            List<String> wanted = new ArrayList<>(g.trainable(g.whole));
            if (inputGradient) wanted.add(X);
            INDArray below = inputGradient ? Nd4j.zeros(DataType.FLOAT, h.shape()) : null;
            addGradients(runner.gradients(g.whole, feed, wanted), grads, below, X, 0);
            checkReached(layer, Set.copyOf(wanted));
            return below;
        }
        return backwardInQueryBlocks(g, h, in, gradOut, grads, inputGradient, rows);
    }

    /** {@link #backward} one query block at a time, the keys' side once (the class comment's three steps). */
    private INDArray backwardInQueryBlocks(LayerGraphs g, INDArray h, DecoderInput in, INDArray gradOut, Map<String, INDArray> grads,
                                           boolean inputGradient, long rows) {
        List<DecoderAttention.CacheTensor> specs = g.attention.cacheTensors();
        BlockRunner.Block attend = g.attend();
        BlockRunner.Block keys = g.keys();
        // The keys' side needs ∂/∂P only when it has trainable tensors or ∂/∂h_i is asked for.
        boolean keySide = inputGradient || !g.trainable(keys).isEmpty();
        List<String> presentNames = new ArrayList<>();
        for (DecoderAttention.CacheTensor c : specs) presentNames.add(LayerwiseDecoder.present(c.name()));
        Map<String, INDArray> present = runner.run(g.whole, LayerwiseDecoder.inputs(h, in), presentNames.toArray(new String[0]));
        Map<String, INDArray> gradPresent = new HashMap<>();
        if (keySide) present.forEach((name, p) -> gradPresent.put(name, Nd4j.zeros(DataType.FLOAT, p.shape())));

        List<String> wanted = new ArrayList<>(g.trainable(attend));
        if (inputGradient) wanted.add(QUERY_X);
        if (keySide) for (DecoderAttention.CacheTensor c : specs) wanted.add(LayerwiseDecoder.past(c.name()));
        INDArray below = inputGradient ? Nd4j.zeros(DataType.FLOAT, h.shape()) : null;
        long length = h.size(1);
        for (long from = 0; from < length; from += rows) {
            long to = Math.min(length, from + rows);
            long seen = LayerwiseDecoder.keyRows(in.attentionMask(), from, to, LayerwiseDecoder.keyQuantum(length, rows));
            Map<String, INDArray> feed = LayerwiseDecoder.attendInputs(h, in, from, to, seen, specs, present);
            feed.put(GRAD_OUT, LayerwiseDecoder.rows(gradOut, 1, from, to));
            Map<String, INDArray> out = runner.gradients(attend, feed, wanted);
            for (DecoderAttention.CacheTensor c : specs) {
                INDArray part = out.remove(LayerwiseDecoder.past(c.name()));
                if (part == null) continue;
                INDArray into = gradPresent.get(LayerwiseDecoder.present(c.name()));
                LayerwiseDecoder.view(into, c.seqAxis(), 0, seen).addi(part);
                part.close();
            }
            addGradients(out, grads, below, QUERY_X, from);
            collectLayerGarbage();
        }
        Set<String> reached = new HashSet<>(wanted);
        if (keySide) {
            Map<String, INDArray> feed = LayerwiseDecoder.inputs(h, in);
            gradPresent.forEach((name, gp) -> feed.put(GRAD_PREFIX + name, gp));
            List<String> keyWanted = new ArrayList<>(g.trainable(keys));
            if (inputGradient) keyWanted.add(X);
            addGradients(runner.gradients(keys, feed, keyWanted), grads, below, X, 0);
            gradPresent.values().forEach(INDArray::close);
            reached.addAll(keyWanted);
        }
        checkReached(g.layer, reached);
        return below;
    }

    /**
     * Adds a pass's gradients: trainable tensors' into {@code grads}, that of the hidden-state input {@code input} into
     * {@code below} at rows [from, from + its rows); closes them.
     */
    private static void addGradients(Map<String, INDArray> out, Map<String, INDArray> grads, INDArray below, String input, long from) {
        for (Map.Entry<String, INDArray> e : out.entrySet()) {
            INDArray g = e.getValue();
            if (g == null) continue;
            if (e.getKey().equals(input)) LayerwiseDecoder.view(below, 1, from, from + g.size(1)).addi(g);
            else grads.get(e.getKey()).addi(g);
            g.close();
        }
    }

    /** Fails when one of layer i's trainable tensors got no gradient from any of its graphs. */
    private void checkReached(int layer, Set<String> reached) {
        for (String key : layerKeys.get(layer)) {
            if (trainable.containsKey(key) && !reached.contains(key)) {
                throw new IllegalStateException("no gradient reached trainable parameter '" + key + "': is it on the path to the logits?");
            }
        }
    }

    private synchronized LayerGraphs graphs(int layer) {
        if (graphs[layer] == null) graphs[layer] = new LayerGraphs(layer);
        return graphs[layer];
    }

    /**
     * Layer i's graphs, each over its weights (trainable ones as variables over the masters, which all share; frozen ones
     * as placeholders): the whole sequence's {@link LayerwiseDecoder#forward} with the loss Σ out ⊙ grad_out, whose
     * gradient is the layer's vector–Jacobian product; and, built the first time a sequence needs query blocks, the
     * blocks' {@link LayerwiseDecoder#attend} with the same loss and the keys' side with the loss Σ_P P ⊙ ∂/∂P.
     */
    private final class LayerGraphs {
        final int layer;
        final BlockRunner.Block whole;
        final DecoderAttention attention;
        private BlockRunner.Block attend;
        private BlockRunner.Block keys;
        /** Per graph, the trainable tensors its loss reaches (those it forms a gradient for). */
        private final Map<BlockRunner.Block, List<String>> reaches = new HashMap<>();

        LayerGraphs(int layer) {
            this.layer = layer;
            this.whole = layerBlock(layer);
            SameDiff sd = whole.sd();
            this.attention = model.attention().create(sd, layer);
            DecoderAttention.Result r = LayerwiseDecoder.forward(sd, config, layerPrefix + layer, attention, layer);
            LayerwiseDecoder.namePresent(sd, attention, r);
            vectorJacobianLoss(sd, r.output());
            GradientGraph.build(sd, X);
        }

        /** The query-block graph: the forward passes' blocks run it, the gradient passes' blocks its VJP. */
        BlockRunner.Block attend() {
            if (attend == null) {
                BlockRunner.Block block = layerBlock(layer);
                SameDiff sd = block.sd();
                DecoderAttention a = model.attention().create(sd, layer);
                vectorJacobianLoss(sd, LayerwiseDecoder.attend(sd, config, layerPrefix + layer, a, layer).output());
                List<String> placeholders = new ArrayList<>(List.of(QUERY_X));
                for (DecoderAttention.CacheTensor c : a.cacheTensors()) placeholders.add(LayerwiseDecoder.past(c.name()));
                GradientGraph.build(sd, placeholders.toArray(new String[0]));
                attend = block;
            }
            return attend;
        }

        /** The keys' side: the whole-sequence graph whose loss is Σ_P P ⊙ ∂/∂P over its cache tensors. */
        BlockRunner.Block keys() {
            if (keys == null) {
                BlockRunner.Block block = layerBlock(layer);
                SameDiff sd = block.sd();
                DecoderAttention a = model.attention().create(sd, layer);
                DecoderAttention.Result r = LayerwiseDecoder.forward(sd, config, layerPrefix + layer, a, layer);
                List<DecoderAttention.CacheTensor> specs = a.cacheTensors();
                SDVariable loss = null;
                for (int j = 0; j < specs.size(); j++) {
                    DecoderAttention.CacheTensor c = specs.get(j);
                    SDVariable g = sd.placeHolder(GRAD_PREFIX + LayerwiseDecoder.present(c.name()), DataType.FLOAT, c.shape());
                    SDVariable term = sd.sum(r.present().get(j).mul(g));
                    loss = loss == null ? term : loss.add(term);
                }
                sd.setLossVariables(sd.identity(LOSS, loss));
                GradientGraph.build(sd, X);
                keys = block;
            }
            return keys;
        }

        /** The trainable tensors of this layer whose gradient {@code block}'s gradient function forms. */
        List<String> trainable(BlockRunner.Block block) {
            return reaches.computeIfAbsent(block, b -> {
                List<String> keys = new ArrayList<>();
                for (String key : layerKeys.get(layer)) {
                    if (trainable.containsKey(key) && b.sd().getVariable(key).gradient() != null) keys.add(key);
                }
                return keys;
            });
        }

        /** Names the graph's output {@link #OUT} and makes Σ out ⊙ grad_out its loss. */
        private void vectorJacobianLoss(SameDiff sd, SDVariable output) {
            SDVariable out = sd.identity(OUT, output);
            SDVariable gradOut = sd.placeHolder(GRAD_OUT, DataType.FLOAT, -1, -1, config.hiddenSize());
            sd.setLossVariables(sd.sum(LOSS, out.mul(gradOut)));
        }
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
        runner.close();
    }
}
