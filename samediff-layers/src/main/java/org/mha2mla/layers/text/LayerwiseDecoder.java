package org.mha2mla.layers.text;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.tensor.MatVec;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.weights.TensorSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The decoder of {@link TextDecoder} (LlamaModel / Qwen2Model + lm_head), run one layer at a time over weights that
 * stay where they are: a memory-mapped checkpoint in its stored dtype, or arrays computed in this process. Only one
 * layer's weights are ever widened to float32, into arrays reused from layer to layer, so a 7B model in bf16 runs
 * in the memory of its mapped file plus one layer.
 *
 * <p>Every decoder layer is a SameDiff graph of its own, built once by the same builders as the whole-model graph
 * ({@link DecoderLayer} and the layer's {@link DecoderAttention}) over placeholders named with the layer's checkpoint
 * keys ({@link Params#placeholders}), so both paths compute the same ops. A layer graph takes the placeholders
 * {@code x} [B, L, d], {@code cos}/{@code sin}, {@code attention_mask}, {@code modality} (as {@link TextDecoder}) and
 * names its outputs {@link #OUT}, {@link #present(String)} per cache tensor and {@link #PROBS} (run by a {@link BlockRunner},
 * which widens the layer's weights into float32 buffers shared by all layers). A sequence too long for one pass runs
 * the keys' side of that graph once and then its query rows in blocks through a second graph of the layer, built only
 * then, which takes the block's rows, their RoPE tables ({@link #QUERY_X}, {@link #QUERY_COS}, {@link #QUERY_SIN})
 * and the cache tensors of the rows they see ({@link #past}). Inner nodes keep the whole graph's names (e.g.
 * {@link TextDecoder#attentionInput(int)}), which calibration reads through a {@link LayerHook}. The embedding lookup,
 * the final norm and the lm_head run outside the graphs: embedding rows and, for the next-token logits, the lm_head
 * rows are read in their stored precision ({@link MatVec}); logits of every position are computed one vocabulary slice
 * at a time.
 *
 * <p>Not thread-safe: one pass at a time.
 */
public final class LayerwiseDecoder implements AutoCloseable {

    /** What happens to a layer's stored weights after the layer ran. */
    public enum Residency {
        /** They stay open (mapped): generation reads every layer at every token. */
        KEEP,
        /** They are released after each layer: one pass over a model larger than memory (conversion, training). */
        RELEASE
    }

    /** A layer graph's input hidden states [B, L, d]: the rows keys and values come from. */
    public static final String X = "x";
    /** A query-block graph's query rows [B, L_q, d]: one block of {@link #X} ({@link #inputs(INDArray, DecoderInput, long, long)}). */
    public static final String QUERY_X = "x_queries";
    /** The RoPE tables of the query rows, [B|1, 1|heads, L_q, d_h]. */
    public static final String QUERY_COS = "cos_queries";
    public static final String QUERY_SIN = "sin_queries";
    /**
     * Bytes of one [B, n_h, L_q, T] float32 attention array, which sets the query rows of a block: a layer pass over a
     * long sequence runs one query block at a time, each attending to the rows it sees ({@link #keyRows}; the outer
     * loop of flash attention, without its fused kernel). LLaVA-NeXT's 2,962-token prompt has [32, 2,962, 2,962] arrays
     * of 1.1 GB; in blocks of 128 MiB (353 rows) they are an eighth. On a 2-layer LLaVA-NeXT slice, 128 MiB blocks held
     * 0.3–0.7 GB less anonymous memory than 256 MiB ones at the same prefill speed (benchmarks/scale). Sequences of up
     * to 1,024 tokens at 32 heads (batch 1) run as one block. (Gradient passes use smaller blocks:
     * {@code trainer.LayerwiseGradients.QUERY_BLOCK_BYTES}.)
     */
    public static final long QUERY_BLOCK_BYTES = 128L << 20;
    /** How many key lengths the query blocks of a pass have at most ({@link #keyQuantum}). */
    private static final long KEY_LENGTHS = 4;
    /** A layer graph's output hidden states [B, L, d]. */
    public static final String OUT = "out";
    /** A layer graph's attention probabilities [B, n_h, L, T]. */
    public static final String PROBS = "probs";
    /** Vocabulary rows of the lm_head widened at once for the logits of every position (64 MB at d = 3584). */
    private static final long LOGIT_SLICE_BYTES = 64L << 20;

    /** Sees the outputs of each layer during a pass. */
    public interface LayerHook {
        /** Extra node names of layer {@code layer}'s graph to return (e.g. {@link TextDecoder#attentionInput}). */
        default List<String> outputs(int layer) {
            return List.of();
        }

        /** The layer's outputs: {@link #OUT} and the requested nodes (valid until the layer runs again). */
        void accept(int layer, Map<String, INDArray> outputs);
    }

    private final TensorSource weights;
    private final TextConfig config;
    private final String modelPrefix;
    private final String lmHeadKey;
    private final DecoderAttention.Factory attention;
    private final BlockRunner runner;
    private final List<List<String>> layerKeys = new ArrayList<>();
    private final LayerGraph[] graphs;
    private final long queryBlockBytes;

    /** A layer's whole-sequence graph and, once a sequence needed it, its query-block graph. */
    private static final class LayerGraph {
        final BlockRunner.Block block;
        final DecoderAttention attention;
        BlockRunner.Block attendBlock;

        LayerGraph(BlockRunner.Block block, DecoderAttention attention) {
            this.block = block;
            this.attention = attention;
        }
    }

    /**
     * @param weights     every tensor of the model under canonical (hub) keys; the decoder reads those under
     *                    {@code modelPrefix} and the lm_head
     * @param modelPrefix prefix of the LlamaModel/Qwen2Model keys, e.g. {@code language_model.model.} or {@code model.}
     * @param lmHeadKey   key of the lm_head weight; ignored when the config ties word embeddings
     * @param attention   builds layer i's attention (GQA, partial RoPE or MLA) in a layer graph
     */
    public LayerwiseDecoder(TensorSource weights, TextConfig config, String modelPrefix, String lmHeadKey,
                            DecoderAttention.Factory attention, Residency residency) {
        this(weights, config, modelPrefix, lmHeadKey, attention, residency, QUERY_BLOCK_BYTES);
    }

    /**
     * With {@code queryBlockBytes} in place of {@link #QUERY_BLOCK_BYTES}: smaller blocks hold less memory per pass
     * (tests split short sequences with them).
     */
    public LayerwiseDecoder(TensorSource weights, TextConfig config, String modelPrefix, String lmHeadKey,
                            DecoderAttention.Factory attention, Residency residency, long queryBlockBytes) {
        this(weights, config, modelPrefix, lmHeadKey, attention, new BlockRunner(weights, residency), queryBlockBytes);
    }

    private LayerwiseDecoder(TensorSource weights, TextConfig config, String modelPrefix, String lmHeadKey,
                             DecoderAttention.Factory attention, BlockRunner runner, long queryBlockBytes) {
        this.queryBlockBytes = queryBlockBytes;
        this.weights = weights;
        this.config = config;
        this.modelPrefix = modelPrefix;
        this.lmHeadKey = config.tieWordEmbeddings() ? embedKey() : lmHeadKey;
        this.attention = attention;
        this.runner = runner;
        for (int i = 0; i < config.numHiddenLayers(); i++) layerKeys.add(new ArrayList<>());
        String layers = modelPrefix + "layers.";
        for (String key : weights.names()) {
            if (!key.startsWith(layers)) continue;
            int dot = key.indexOf('.', layers.length());
            int layer = parseLayer(key, layers.length(), dot);
            if (layer >= 0 && layer < layerKeys.size()) layerKeys.get(layer).add(key);
        }
        this.graphs = new LayerGraph[config.numHiddenLayers()];
        requireShape(embedKey(), config.vocabSize(), config.hiddenSize());
        requireShape(this.lmHeadKey, config.vocabSize(), config.hiddenSize());
        requireShape(modelPrefix + "norm.weight", config.hiddenSize());
    }

    /**
     * A decoder of the same weights with another attention (calibration's partial-RoPE model beside the original), on
     * this one's runner: a layer's weights, widened into float32 for one decoder's pass, serve the other's pass of the
     * same layer without being widened again, and the two share one activation pool. Their passes must not overlap;
     * closing either closes the runner (the other can still run, opening what it needs again).
     */
    public LayerwiseDecoder sibling(DecoderAttention.Factory attention) {
        return new LayerwiseDecoder(weights, config, modelPrefix, lmHeadKey, attention, runner, queryBlockBytes);
    }

    private static int parseLayer(String key, int from, int dot) {
        if (dot < 0) return -1;
        try {
            return Integer.parseInt(key.substring(from, dot));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private void requireShape(String key, long... shape) {
        if (!weights.contains(key)) {
            throw new IllegalArgumentException("weight '" + key + "' is missing from the checkpoint (expected shape " + Arrays.toString(shape) + ")");
        }
        long[] actual = weights.info(key).shape();
        if (!Arrays.equals(actual, shape)) {
            throw new IllegalArgumentException("weight '" + key + "' has shape " + Arrays.toString(actual) + " but the config implies "
                    + Arrays.toString(shape));
        }
    }

    /** Whether stored weights stay open between passes. */
    public Residency residency() {
        return runner.residency();
    }

    /** Key of the token embedding table, e.g. {@code model.embed_tokens.weight}. */
    public String embedKey() {
        return modelPrefix + "embed_tokens.weight";
    }

    /** Key of the final norm's weight, e.g. {@code model.norm.weight}. */
    public String normKey() {
        return modelPrefix + "norm.weight";
    }

    /** Key of the lm_head weight (the embedding table's when the config ties them). */
    public String lmHeadKey() {
        return lmHeadKey;
    }

    /** A layer graph's cache tensor output, e.g. {@code present.key}. */
    public static String present(String name) {
        return "present." + name;
    }

    public TextConfig config() {
        return config;
    }

    public int numLayers() {
        return graphs.length;
    }

    /** Key prefix of layer i, e.g. {@code model.layers.3}. */
    public String layerKey(int layer) {
        return modelPrefix + "layers." + layer;
    }

    /** The checkpoint keys of layer i's weights. */
    public List<String> layerWeights(int layer) {
        return List.copyOf(layerKeys.get(layer));
    }

    /** Layer i's attention as built in its graph (its cache tensors, its weight names). */
    public DecoderAttention attention(int layer) {
        return graph(layer).attention;
    }

    /** Cache tensors layer i keeps per token. */
    public List<DecoderAttention.CacheTensor> cacheTensors(int layer) {
        return attention(layer).cacheTensors();
    }

    /** The weights this decoder reads. */
    public TensorSource weights() {
        return weights;
    }

    /**
     * A weight in its stored precision. With {@link Residency#KEEP} it stays open until {@link #close()}; with
     * {@link Residency#RELEASE} the caller closes it.
     */
    public StoredTensor stored(String key) {
        return runner.stored(key);
    }

    private synchronized LayerGraph graph(int layer) {
        if (graphs[layer] != null) return graphs[layer];
        BlockRunner.Block block = runner.block(layerKey(layer) + ".", Set.copyOf(layerKeys.get(layer))::contains);
        graphs[layer] = new LayerGraph(block, build(block.sd(), layer));
        return graphs[layer];
    }

    /** Layer i's query-block graph ({@link #attend}), built the first time a sequence needs it. */
    private synchronized BlockRunner.Block attendGraph(int layer) {
        LayerGraph g = graph(layer);
        if (g.attendBlock == null) {
            BlockRunner.Block block = runner.block(layerKey(layer) + ".", Set.copyOf(layerKeys.get(layer))::contains);
            SameDiff sd = block.sd();
            DecoderAttention.Result r = attend(sd, config, layerKey(layer), attention.create(sd, layer), layer);
            sd.identity(OUT, r.output());
            sd.identity(PROBS, r.probs());
            g.attendBlock = block;
        }
        return g.attendBlock;
    }

    /**
     * Adds decoder layer {@code layer}'s query-block graph to {@code sd}: the query rows {@link #QUERY_X} [B, L_q, d]
     * with their tables ({@link #QUERY_COS}/{@link #QUERY_SIN}) and mask ({@link TextDecoder#ATTENTION_MASK}
     * [B, 1, L_q, T]) over the cache tensors of the T rows they see, placeholders {@link #past} ({@link DecoderLayer#attend});
     * returns the query rows' output and probabilities.
     */
    public static DecoderAttention.Result attend(SameDiff sd, TextConfig config, String layerKey, DecoderAttention attn, int layer) {
        int dH = config.headDim();
        SDVariable queries = sd.placeHolder(QUERY_X, DataType.FLOAT, -1, -1, config.hiddenSize());
        SDVariable cos = sd.placeHolder(QUERY_COS, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable sin = sd.placeHolder(QUERY_SIN, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable mask = sd.placeHolder(TextDecoder.ATTENTION_MASK, DataType.FLOAT, -1, -1, -1, -1);
        List<SDVariable> past = new ArrayList<>();
        for (DecoderAttention.CacheTensor c : attn.cacheTensors()) past.add(sd.placeHolder(past(c.name()), DataType.FLOAT, c.shape()));
        return new DecoderLayer(sd, config, layerKey, attn)
                .attend(TextDecoder.layerScope(layer), new DecoderAttention.Queries(queries, cos, sin), past, mask);
    }

    /** A query-block graph's placeholder of the cache tensor {@code name} of the rows the block sees, e.g. {@code past.key}. */
    public static String past(String name) {
        return "past." + name;
    }

    /** Adds layer i and its named outputs to {@code sd}; returns the layer's attention. */
    private DecoderAttention build(SameDiff sd, int layer) {
        DecoderAttention attn = attention.create(sd, layer);
        DecoderAttention.Result r = forward(sd, config, layerKey(layer), attn, layer);
        sd.identity(OUT, r.output());
        sd.identity(PROBS, r.probs());
        namePresent(sd, attn, r);
        return attn;
    }

    /** Names a layer pass's cache tensors {@link #present} (e.g. {@code present.key}), as a pass in query blocks reads them. */
    public static void namePresent(SameDiff sd, DecoderAttention attn, DecoderAttention.Result r) {
        List<DecoderAttention.CacheTensor> specs = attn.cacheTensors();
        for (int j = 0; j < specs.size(); j++) sd.identity(present(specs.get(j).name()), r.present().get(j));
    }

    /**
     * Adds decoder layer {@code layer} to its own graph {@code sd} over the placeholders {@link #X} [B, L, d],
     * {@link TextDecoder#COS}/{@link TextDecoder#SIN}, {@link TextDecoder#ATTENTION_MASK} [B, 1, L, L] and
     * {@link TextDecoder#MODALITY}; returns the layer's output and cache tensors. One array serves the queries' and the
     * keys' rows, so the input norm and the RoPE tables are computed once. A pass in query blocks runs the keys' side of
     * this graph once and the blocks through {@link #attend}.
     */
    public static DecoderAttention.Result forward(SameDiff sd, TextConfig config, String layerKey, DecoderAttention attn, int layer) {
        int dH = config.headDim();
        SDVariable x = sd.placeHolder(X, DataType.FLOAT, -1, -1, config.hiddenSize());
        SDVariable cos = sd.placeHolder(TextDecoder.COS, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable sin = sd.placeHolder(TextDecoder.SIN, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable mask = sd.placeHolder(TextDecoder.ATTENTION_MASK, DataType.FLOAT, -1, -1, -1, -1);
        SDVariable modality = sd.placeHolder(TextDecoder.MODALITY, DataType.FLOAT, -1, -1);
        return new DecoderLayer(sd, config, layerKey, attn).forward(TextDecoder.layerScope(layer), x, cos, sin, mask, modality);
    }

    /** Token embeddings [1, L, d] of {@code ids}, read from the stored table. */
    public INDArray embed(long[] ids) {
        int d = Math.toIntExact(config.hiddenSize());
        float[] rows = new float[ids.length * d];
        StoredTensor table = stored(embedKey());
        try {
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
                    throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is outside the vocabulary [0, "
                            + config.vocabSize() + ")");
                }
                table.rowsInto(ids[i], 1, rows, i * d);
            }
        } finally {
            runner.done(table);
        }
        return Nd4j.create(rows, new long[]{1, ids.length, d}, 'c');
    }

    /**
     * The placeholders of a whole-sequence layer graph besides its weights: hidden states {@code h} [B, L, d], and the
     * RoPE tables, mask and modality of {@code in} (a new, modifiable map).
     */
    public static Map<String, INDArray> inputs(INDArray h, DecoderInput in) {
        Map<String, INDArray> feed = new HashMap<>();
        feed.put(X, h);
        feed.put(TextDecoder.COS, in.rope().cos());
        feed.put(TextDecoder.SIN, in.rope().sin());
        feed.put(TextDecoder.ATTENTION_MASK, in.attentionMask());
        feed.put(TextDecoder.MODALITY, in.modality());
        return feed;
    }

    /**
     * The placeholders of a query-block graph ({@link #attend}) for the query rows [from, to) of {@code h} attending to
     * the rows [0, keys) ({@link #keyRows}): the rows, their RoPE tables and mask, and {@link #past} of each cache
     * tensor, the first {@code keys} rows of {@code present} (the whole sequence's, by name {@link #present}).
     */
    public static Map<String, INDArray> attendInputs(INDArray h, DecoderInput in, long from, long to, long keys,
                                                     List<DecoderAttention.CacheTensor> specs, Map<String, INDArray> present) {
        Map<String, INDArray> feed = new HashMap<>();
        long length = h.size(1);
        INDArray mask = view(in.attentionMask(), 2, from, to);
        feed.put(TextDecoder.ATTENTION_MASK, rows(mask, 3, 0, keys));
        feed.put(QUERY_X, rows(h, 1, from, to));
        feed.put(QUERY_COS, rows(in.rope().cos(), 2, from, to));
        feed.put(QUERY_SIN, rows(in.rope().sin(), 2, from, to));
        for (DecoderAttention.CacheTensor c : specs) {
            INDArray all = present.get(present(c.name()));
            feed.put(past(c.name()), keys == length ? all : rows(all, c.seqAxis(), 0, keys));
        }
        return feed;
    }

    /**
     * The key rows [0, keys) that the query rows [from, to) of a pass need, from its mask [B, 1, L, L]: {@code to}
     * rounded up to a multiple of {@code quantum} ({@link #keyQuantum}; at most L) when the mask hides every key from
     * {@code to} on from each of these rows and each row sees some earlier key (a causal mask, the prefill of every
     * model here), else all L. The keys a row does not see add exactly 0 to its softmax ({@link AttentionMask#MASKED}),
     * so a causal block attends to a prefix alone, and a pass in blocks does little more than half the keys' and the
     * attention's work of blocks over all rows. A row that sees no key (padding) keeps all L: its softmax is uniform
     * over every key it is given.
     */
    public static long keyRows(INDArray mask, long from, long to, long quantum) {
        long length = mask.size(3);
        if (to == length) return length;
        INDArray block = mask.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all());
        float hidden = AttentionMask.MASKED / 2;
        boolean laterHidden = block.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(to, length))
                .maxNumber().floatValue() < hidden;
        if (!laterHidden) return length;
        INDArray seen = block.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, to)).max(3);
        if (seen.minNumber().floatValue() <= hidden) return length;
        return Math.min(length, (to + quantum - 1) / quantum * quantum);
    }

    /**
     * The step of {@link #keyRows} for blocks of {@code rows} over {@code length}: a whole number of blocks giving at
     * most four key lengths. SameDiff's activation cache and {@link PassArrays} reuse an array only for a request of
     * the same shape, so blocks that each had a prefix of their own would allocate every array afresh (measured: a
     * third of a 2-layer LLaVA-NeXT stage-2 update at 3,072 tokens); with four lengths the blocks of one length reuse
     * the arrays of the one before.
     */
    public static long keyQuantum(long length, long rows) {
        long blocks = (length + rows - 1) / rows;
        return rows * ((blocks + KEY_LENGTHS - 1) / KEY_LENGTHS);
    }

    /** Rows [from, to) of axis {@code axis}, as a new array. */
    public static INDArray rows(INDArray a, int axis, long from, long to) {
        return view(a, axis, from, to).dup('c');
    }

    /** A view of rows [from, to) of axis {@code axis}. */
    public static INDArray view(INDArray a, int axis, long from, long to) {
        INDArrayIndex[] index = new INDArrayIndex[a.rank()];
        Arrays.fill(index, NDArrayIndex.all());
        index[axis] = NDArrayIndex.interval(from, to);
        return a.get(index);
    }

    /**
     * Query rows per block of a pass over {@code length} rows: as many as keep one [batch, heads, rows, length] float32
     * attention array within {@code blockBytes}, at least one.
     */
    public static long queryRows(long batch, int heads, long length, long blockBytes) {
        long perRow = 4L * batch * heads * length;
        return Math.max(1, Math.min(length, blockBytes / perRow));
    }

    /**
     * Runs layer {@code layer} on hidden states {@code h} [B, L, d] with the positions, mask and modality of
     * {@code in}; returns {@link #OUT} and the {@code extra} nodes of the layer graph.
     */
    public Map<String, INDArray> layer(int layer, INDArray h, DecoderInput in, List<String> extra) {
        LayerGraph g = graph(layer);
        String[] outputs = new String[extra.size() + 1];
        outputs[0] = OUT;
        for (int i = 0; i < extra.size(); i++) outputs[i + 1] = extra.get(i);
        long rows = queryRows(h.size(0), config.numAttentionHeads(), h.size(1), queryBlockBytes);
        // A pass this long has large activations: the mapped weights read so far (the layers before, or all of them
        // after a decode) need not stay resident beside them. They stay open; the next read maps them again from the
        // page cache. On LLaVA-NeXT-8B's 2,959-token prompt they were 14 GB of an eval's 20 GB peak (benchmarks/scale).
        if (rows < h.size(1)) runner.dropPages();
        if (rows == h.size(1) || extra.stream().anyMatch(n -> queryAxis(layer, n) == UNBLOCKED)) {
            return runner.run(g.block, inputs(h, in), outputs);
        }
        return inQueryBlocks(runner, g.block, attendGraph(layer), g.attention.cacheTensors(), config.numAttentionHeads(), layer, h, in,
                rows, outputs);
    }

    /** {@link #queryAxis}: a node over all key rows, computed once before the blocks. */
    private static final int KEY_ROWS = -1;
    /** {@link #queryAxis}: a node a pass in query blocks does not assemble. */
    private static final int UNBLOCKED = -2;

    /**
     * How a pass in query blocks assembles node {@code node} of layer {@code layer}: the axis of its query rows, gathered
     * block by block ({@link #OUT}; {@link #PROBS} and the queries before RoPE, [B, n_h, L_q, ·]); {@link #KEY_ROWS} for
     * a node over the key rows, computed once for all rows (the cache tensors, the normed attention input and the keys
     * before RoPE, as calibration reads them); {@link #UNBLOCKED} for any other node, whose pass then runs the whole
     * sequence at once.
     */
    private static int queryAxis(int layer, String node) {
        String attention = TextDecoder.attentionScope(layer);
        if (node.equals(OUT)) return 1;
        if (node.equals(PROBS) || node.equals(GqaAttention.queryBeforeRope(attention))) return 2;
        if (node.startsWith(present("")) || node.equals(TextDecoder.attentionInput(layer))
                || node.equals(GqaAttention.keyBeforeRope(attention))) {
            return KEY_ROWS;
        }
        return UNBLOCKED;
    }

    /**
     * Layer {@code layer}'s pass one query block of {@code rows} rows at a time, through {@code runner}. The keys' side
     * first, once for all rows: the whole-sequence graph {@code whole} asked for the cache tensors ({@link #present})
     * and the nodes over key rows ({@link #queryAxis}) alone, which SameDiff computes without the attention or the MLP.
     * Then each block of query rows through {@code attend} ({@link #attend}) over the cache tensors of the key rows it
     * sees, its nodes over query rows gathered block by block. (A block that projected its own key rows again would add
     * a sixth to a 7B layer's arithmetic at LLaVA-NeXT's 2,962 tokens: its 9 blocks see 18,417 key rows in all.) The
     * gradient passes split the same way ({@code trainer.LayerwiseGradients}).
     *
     * @param specs the layer's cache tensors ({@link DecoderAttention#cacheTensors})
     * @param heads n_h, the probabilities' second axis
     */
    public static Map<String, INDArray> inQueryBlocks(BlockRunner runner, BlockRunner.Block whole, BlockRunner.Block attend,
                                                      List<DecoderAttention.CacheTensor> specs, int heads, int layer,
                                                      INDArray h, DecoderInput in, long rows, String... outputs) {
        List<String> keySide = new ArrayList<>();
        List<String> querySide = new ArrayList<>();
        for (DecoderAttention.CacheTensor c : specs) keySide.add(present(c.name()));
        for (String name : outputs) {
            if (queryAxis(layer, name) != KEY_ROWS) querySide.add(name);
            else if (!keySide.contains(name)) keySide.add(name);
        }
        // Arrays live off-heap until the JVM collects their wrappers, which a small heap does not do on its own: one
        // collection before the blocks (what the caller left from the layer before, e.g. calibration's scores: 1.0 GB
        // more at peak in a 2-layer LLaVA-NeXT convert without it) and one after them.
        System.gc();
        Map<String, INDArray> gathered = new HashMap<>(runner.run(whole, inputs(h, in), keySide.toArray(new String[0])));
        long length = h.size(1);
        if (querySide.contains(PROBS)) gathered.put(PROBS, Nd4j.zeros(DataType.FLOAT, h.size(0), heads, length, length));
        for (long from = 0; from < length; from += rows) {
            long to = Math.min(length, from + rows);
            long keys = keyRows(in.attentionMask(), from, to, keyQuantum(length, rows));
            Map<String, INDArray> feed = attendInputs(h, in, from, to, keys, specs, gathered);
            Map<String, INDArray> last = runner.run(attend, feed, querySide.toArray(new String[0]));
            for (String name : querySide) {
                int axis = queryAxis(layer, name);
                INDArray part = last.get(name);
                INDArray assembled = gathered.computeIfAbsent(name, n -> {
                    long[] shape = part.shape().clone();
                    shape[axis] = length;
                    return Nd4j.createUninitialized(DataType.FLOAT, shape);
                });
                INDArrayIndex[] index = new INDArrayIndex[assembled.rank()];
                Arrays.fill(index, NDArrayIndex.all());
                index[axis] = NDArrayIndex.interval(from, to);
                if (name.equals(PROBS)) index[3] = NDArrayIndex.interval(0, keys);
                assembled.get(index).assign(part);
                part.close();
            }
            closeCopies(feed, gathered);
        }
        // The blocks' inputs and outputs are closed above; what SameDiff allocated outside the pool goes here. Without
        // any collection a 2,962-token LLaVA-NeXT prefill held every block's arrays at once; a collection after every
        // block cost 9 × 24 ms per layer of that prefill.
        System.gc();
        return gathered;
    }

    /** Closes the arrays of a block's feed ({@link #attendInputs}) that it copied, not those it took from {@code present}. */
    public static void closeCopies(Map<String, INDArray> feed, Map<String, INDArray> present) {
        Set<INDArray> shared = Collections.newSetFromMap(new IdentityHashMap<>());
        shared.addAll(present.values());
        for (INDArray a : feed.values()) {
            if (!shared.contains(a) && a.closeable()) a.close();
        }
    }

    /**
     * Runs every layer over {@code in} and returns the hidden states after the final norm [B, L, d]; {@code hook}
     * (may be null) sees each layer's outputs.
     */
    public INDArray forward(DecoderInput in, LayerHook hook) {
        INDArray h = in.inputsEmbeds();
        for (int i = 0; i < graphs.length; i++) {
            Map<String, INDArray> out = layer(i, h, in, hook == null ? List.of() : hook.outputs(i));
            if (hook != null) hook.accept(i, out);
            h = out.get(OUT);
        }
        // After a pass in query blocks its float32 layer buffers and cached activations (1.7 GB at 7B) would stay
        // beside what comes next: decode steps, which read the stored weights directly, or another prompt's pass,
        // which allocates them again.
        if (longPass(h)) runner.releaseActivations();
        return norm(h);
    }

    /** Whether a layer pass over hidden states {@code h} [B, L, d] runs in query blocks: a long prompt. */
    private boolean longPass(INDArray h) {
        return queryRows(h.size(0), config.numAttentionHeads(), h.size(1), queryBlockBytes) < h.size(1);
    }

    /** The final RMSNorm of hidden states [B, L, d] (float32, as {@link RmsNorm}). */
    public INDArray norm(INDArray h) {
        long d = config.hiddenSize();
        INDArray rows = h.reshape(-1, d);
        StoredTensor w = stored(modelPrefix + "norm.weight");
        INDArray weight;
        try {
            weight = w.floats().reshape(d);
        } finally {
            runner.done(w);
        }
        INDArray inverseRms = Transforms.pow(rows.mul(rows).mean(1).addi(config.rmsNormEps()), -0.5, false);
        return rows.mulColumnVector(inverseRms).muliRowVector(weight).reshape(h.shape());
    }

    /** Logits [B, L, vocab] of every position of normed hidden states [B, L, d], one vocabulary slice at a time. */
    public INDArray logits(INDArray normed) {
        long d = config.hiddenSize();
        long vocab = config.vocabSize();
        INDArray rows = normed.reshape(-1, d);
        INDArray logits = Nd4j.createUninitialized(DataType.FLOAT, rows.size(0), vocab);
        StoredTensor head = stored(lmHeadKey);
        try {
            int slice = (int) Math.max(1, Math.min(vocab, LOGIT_SLICE_BYTES / (4 * d)));
            INDArray w = Nd4j.createUninitialized(DataType.FLOAT, slice, d);
            for (long v = 0; v < vocab; v += slice) {
                int n = (int) Math.min(slice, vocab - v);
                INDArray part = n == slice ? w : Nd4j.createUninitialized(DataType.FLOAT, n, d);
                head.widenRowsInto(v, n, part);
                logits.get(NDArrayIndex.all(), NDArrayIndex.interval(v, v + n)).assign(rows.mmul(part.transpose()));
            }
        } finally {
            runner.done(head);
        }
        return logits.reshape(normed.size(0), normed.size(1), vocab);
    }

    /**
     * Logits [rows, vocab] of a few normed hidden-state rows [rows, d] (flat), reading the lm_head in its stored
     * precision: the next-token logits of a prefill or decode step.
     */
    public float[] logitsOf(float[] normedRows, int rows) {
        float[] out = new float[Math.toIntExact(rows * config.vocabSize())];
        StoredTensor head = stored(lmHeadKey);
        try {
            MatVec.apply(head, normedRows, rows, out, null);
        } finally {
            runner.done(head);
        }
        return out;
    }

    /** Logits [B, L, vocab] of a whole pass. */
    public INDArray logits(DecoderInput in) {
        return logits(forward(in, null));
    }

    /** Hidden states [layers + 1, B, L, d]: the input embeddings, every layer's output, the last after the final norm. */
    public INDArray hiddenStates(DecoderInput in) {
        INDArray[] states = new INDArray[graphs.length + 1];
        states[0] = in.inputsEmbeds();
        INDArray normed = forward(in, (layer, out) -> {
            if (layer < graphs.length - 1) states[layer + 1] = out.get(OUT).dup();
        });
        states[graphs.length] = normed;
        return Nd4j.stack(0, states);
    }

    /** Releases the open weights and the float32 buffers. */
    @Override
    public void close() {
        runner.close();
    }
}
