package org.mha2mla.layers.qwen25vl;

import java.util.HashMap;
import java.util.Map;

import org.mha2mla.core.config.Qwen25VlVisionConfig;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.BlockRunner;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The Qwen2.5-VL vision tower of {@link Qwen25VlVisionTower} run one graph at a time over weights that stay in their
 * stored dtype ({@link BlockRunner}): the patch embedding, each of the {@code depth} blocks, then the merger, every
 * graph built by the same builders as the whole-tower graph over placeholder weights; one block graph serves all
 * blocks (window or full attention is only what its group placeholders say). Only one block's weights are
 * float32 at a time (20.5 M parameters at Qwen2.5-VL-7B's width, the merger 44.6 M), instead of the whole tower (670 M).
 *
 * <p>The rows run in window order (transformers' {@code get_window_index}), reordered in Java by index before the
 * patch embedding and back after the merger. Attention is computed as transformers' {@code cu_seqlens} split
 * describes it, within contiguous groups of rows only: the windows in window-attention blocks, each image (and
 * temporal slice) in the {@code fullatt_block_indexes} blocks. Inside a block graph the rows of q | k | v are
 * gathered into one batch row per group, padded to the longest group with masked keys:
 * <pre>
 *   qkv [1, n, 3d] → gather → [G, L_max, 3d] → RoPE, softmax(q·kᵀ/√d_h + key mask)·v → [G, L_max, d] → gather back [1, n, d]
 * </pre>
 * At 448² (1024 patches, windows of 64) that is 16 attentions of 64×64 per head instead of one of 1024×1024 with
 * 15/16 of it masked. The linear layers see exactly the n real rows.
 *
 * <p>Not thread-safe: one pass at a time.
 */
public final class LayerwiseQwen25VlVisionTower {

    static final String PIXELS = "pixel_values";
    static final String X = "x";
    static final String OUT = "out";
    /** INT [G·L_max]: row of x (window order) at each padded group position; padding repeats the group's first row. */
    static final String GROUP_ROWS = "group_rows";
    /** INT [n]: the padded group position of each row of x (inverse of {@link #GROUP_ROWS} on the real rows). */
    static final String ROW_POSITIONS = "row_positions";
    /** FLOAT [G, 1, L_max, d_h]: the RoPE tables of the padded group positions. */
    static final String COS = "cos";
    static final String SIN = "sin";
    /** FLOAT [G, 1, 1, L_max]: 0 on a group's rows, {@link AttentionMask#MASKED} on its padding. */
    static final String KEY_MASK = "key_mask";
    /** LONG [2]: G and L_max. */
    static final String GROUP_SHAPE = "group_shape";

    private final BlockRunner runner;
    private final Qwen25VlVisionConfig config;
    private final String prefix;
    private BlockRunner.Block patchEmbed;
    /** The block graph, built over block 0's keys and fed each block's weights and attention groups in turn. */
    private BlockRunner.Block block;
    private BlockRunner.Block merger;

    /**
     * @param runner reads the weights (under canonical keys) and holds the float32 buffers
     * @param prefix key prefix of the tower, {@code visual.}
     */
    public LayerwiseQwen25VlVisionTower(BlockRunner runner, Qwen25VlVisionConfig config, String prefix) {
        this.runner = runner;
        this.config = config;
        this.prefix = prefix;
    }

    public Qwen25VlVisionConfig config() {
        return config;
    }

    /**
     * Image features for the decoder: [Σ t·h·w / merge², out_hidden_size], images in the order of {@code gridThw},
     * units in the processor's order (the order of the image tokens).
     *
     * @param pixelValues [Σ t·h·w, C·T·P·P] as the processor returns it
     * @param gridThw     per image [t, h, w] in patches
     */
    public INDArray forward(INDArray pixelValues, int[][] gridThw) {
        Qwen25VlVisionTower.checkInput(pixelValues, gridThw, config);
        Layout layout = Layout.of(gridThw, config);
        INDArray x = patchEmbed(pixelValues, layout);
        for (int i = 0; i < config.depth(); i++) x = block(i, x, layout);
        return merge(x, layout);
    }

    /** The patch embeddings [1, n, hidden] of the processor's rows, in window order. */
    public INDArray patchEmbed(INDArray pixelValues, Layout layout) {
        if (patchEmbed == null) {
            patchEmbed = runner.block(prefix + "patch_embed.");
            SameDiff sd = patchEmbed.sd();
            SDVariable pixels = sd.placeHolder(PIXELS, DataType.FLOAT, -1, -1, config.patchVolume());
            Qwen25VlVisionTower.patchEmbed(sd, config, prefix, OUT, pixels);
        }
        INDArray rows = Nd4j.pullRows(pixelValues.castTo(DataType.FLOAT), 1, layout.patchOrder());
        return runner.run(patchEmbed, Map.of(PIXELS, rows.reshape(1, rows.size(0), rows.size(1))), OUT).get(OUT);
    }

    /** Block i on hidden states [1, n, hidden] in window order. */
    public INDArray block(int i, INDArray x, Layout layout) {
        if (block == null) {
            String key = Qwen25VlVisionTower.blockKey(prefix, 0);
            block = runner.block(key);
            SameDiff sd = block.sd();
            SDVariable in = sd.placeHolder(X, DataType.FLOAT, 1, -1, config.hiddenSize());
            sd.identity(OUT, Qwen25VlVisionTower.block(sd, config, key, "block/", in, grouped(sd, config.headDim())));
        }
        Groups groups = config.fullattBlockIndexes().contains(i) ? layout.full() : layout.windows();
        Map<String, INDArray> feed = new HashMap<>(groups.feed());
        feed.put(X, x);
        return runner.run(block, Qwen25VlVisionTower.blockKey(prefix, i), feed, OUT).get(OUT);
    }

    /** The merger on hidden states [1, n, hidden] in window order: [U, out_hidden_size] in the processor's unit order. */
    public INDArray merge(INDArray x, Layout layout) {
        if (merger == null) {
            merger = runner.block(prefix + "merger.");
            SameDiff sd = merger.sd();
            SDVariable in = sd.placeHolder(X, DataType.FLOAT, 1, -1, config.hiddenSize());
            sd.identity(OUT, Qwen25VlVisionTower.merger(sd, config, prefix, "", in));
        }
        INDArray merged = runner.run(merger, Map.of(X, x), OUT).get(OUT);                   // [1, U, out], window order
        return Nd4j.pullRows(merged.reshape(merged.size(1), merged.size(2)), 1, layout.unitOrder());
    }

    /**
     * Attention within contiguous groups of rows, each gathered into a batch row of its own (see the class comment);
     * the group layout comes in as placeholders ({@link Groups#feed}).
     */
    private static Qwen25VlVisionTower.AttentionGroups grouped(SameDiff sd, int headDim) {
        SDVariable groupRows = sd.placeHolder(GROUP_ROWS, DataType.INT, -1);
        SDVariable rowPositions = sd.placeHolder(ROW_POSITIONS, DataType.INT, -1);
        SDVariable cos = sd.placeHolder(COS, DataType.FLOAT, -1, 1, -1, headDim);
        SDVariable sin = sd.placeHolder(SIN, DataType.FLOAT, -1, 1, -1, headDim);
        SDVariable keyMask = sd.placeHolder(KEY_MASK, DataType.FLOAT, -1, 1, 1, -1);
        SDVariable groupShape = sd.placeHolder(GROUP_SHAPE, DataType.LONG, 2);
        return (g, at, qkv, heads, dH) -> {
            long width = 3L * heads * dH;
            SDVariable rows = g.gather(g.reshape(qkv, -1, width), groupRows, 0);                   // [G·L_max, 3d]
            SDVariable perGroup = g.reshape(rows, g.concat(0, groupShape, g.constant(Nd4j.createFromArray(width))));
            SDVariable out = Qwen25VlVisionTower.attentionCore(g, at, perGroup, cos, sin, keyMask, heads, dH);   // [G, L_max, d]
            SDVariable back = g.gather(g.reshape(out, -1, (long) heads * dH), rowPositions, 0);      // [n, d]
            return g.reshape(at + "/grouped", back, 1, -1, (long) heads * dH);
        };
    }

    /**
     * Contiguous groups of rows that attend among themselves, as placeholder values: {@code groups} × {@code length}
     * padded positions.
     */
    public record Groups(int groups, int length, INDArray groupRows, INDArray rowPositions, INDArray cos, INDArray sin, INDArray keyMask) {

        /**
         * The groups [cu[g], cu[g+1]) of rows whose RoPE tables are {@code cos}/{@code sin} [n, d_h] (transformers'
         * cu_seqlens / cu_window_seqlens).
         */
        static Groups of(int[] cu, INDArray cos, INDArray sin) {
            int groups = cu.length - 1;
            int length = 0;
            for (int g = 0; g < groups; g++) length = Math.max(length, cu[g + 1] - cu[g]);
            int n = cu[groups];
            int[] rows = new int[groups * length];
            int[] positions = new int[n];
            float[] mask = new float[groups * length];
            for (int g = 0; g < groups; g++) {
                for (int j = 0; j < length; j++) {
                    int p = g * length + j;
                    boolean real = cu[g] + j < cu[g + 1];
                    rows[p] = real ? cu[g] + j : cu[g];
                    if (real) positions[cu[g] + j] = p;
                    mask[p] = real ? 0f : AttentionMask.MASKED;
                }
            }
            long dH = cos.size(1);
            long[] tableShape = {groups, 1, length, dH};
            return new Groups(groups, length, Nd4j.createFromArray(rows), Nd4j.createFromArray(positions),
                    Nd4j.pullRows(cos, 1, rows).reshape(tableShape), Nd4j.pullRows(sin, 1, rows).reshape(tableShape),
                    Nd4j.create(mask, new long[] {groups, 1, 1, length}, 'c'));
        }

        Map<String, INDArray> feed() {
            return Map.of(GROUP_ROWS, groupRows, ROW_POSITIONS, rowPositions, COS, cos, SIN, sin, KEY_MASK, keyMask,
                    GROUP_SHAPE, Nd4j.createFromArray((long) groups, length));
        }
    }

    /**
     * The row bookkeeping of one call: which processor row sits at each window-order row, which window-order unit
     * holds each processor unit, and the attention groups of window and full-attention blocks.
     */
    public record Layout(int[] patchOrder, int[] unitOrder, Groups windows, Groups full) {

        /** The layout of the images {@code gridThw} ([t, h, w] in patches each). */
        public static Layout of(int[][] gridThw, Qwen25VlVisionConfig config) {
            Qwen25VlVisionTower.WindowIndex w = Qwen25VlVisionTower.windowIndex(gridThw, config);
            int unit = config.spatialMergeSize() * config.spatialMergeSize();
            int n = Qwen25VlVisionTower.numPatches(gridThw);
            int[] patchOrder = new int[n];
            for (int r = 0; r < n; r++) patchOrder[r] = w.index()[r / unit] * unit + r % unit;
            INDArray[] rope = Qwen25VlVisionTower.ropeTables(gridThw, config, w);
            // Windows never cross an image or temporal slice, so each image's rows stay contiguous in window order.
            return new Layout(patchOrder, Qwen25VlVisionTower.argsort(w.index()),
                    Groups.of(w.cuWindowSeqlens(), rope[0], rope[1]),
                    Groups.of(Qwen25VlVisionTower.cuSeqlens(gridThw), rope[0], rope[1]));
        }
    }
}
