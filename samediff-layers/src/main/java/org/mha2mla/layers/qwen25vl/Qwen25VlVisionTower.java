package org.mha2mla.layers.qwen25vl;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.mha2mla.core.config.Qwen25VlVisionConfig;
import org.mha2mla.core.rope.Rope;
import org.mha2mla.layers.text.Activations;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.Heads;
import org.mha2mla.layers.text.Linear;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.RmsNorm;
import org.mha2mla.layers.text.RotaryEmbedding;
import org.mha2mla.layers.text.SwiGluMlp;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The Qwen2.5-VL vision tower as one SameDiff graph, matching transformers'
 * {@code Qwen2_5_VisionTransformerPretrainedModel}:
 * <pre>
 *   patch_embed (Conv3d, kernel = stride = (T, P, P), no bias → one matmul over flattened patches)
 *   → reorder merged 2×2 units into windows (get_window_index)
 *   → depth × [x + attn(RMSNorm(x)) with 2-D vision RoPE, window or full attention; x + SwiGLU(RMSNorm(x))]
 *   → merger: RMSNorm ln_q, group the 2×2 unit, Linear → GELU(erf) → Linear to out_hidden_size
 *   → reverse the window order
 * </pre>
 * The input is the processor's {@code pixel_values} [n_patches, C·T·P·P] with {@code image_grid_thw}; the output
 * is one row per merged unit [n_patches / merge², out_hidden_size], images concatenated in order: exactly the
 * rows that replace the image tokens in the decoder's input embeddings.
 *
 * <p>The graph runs on a batch axis: {@code pixel_values} [B, n, C·T·P·P]. Inference feeds B = 1 with every
 * image of the prompt concatenated ({@link #placeholders(INDArray, int[][])}); pretraining feeds B images of one
 * grid ({@link #batchPlaceholders}), so attention stays n×n per image instead of (B·n)². Attention over windows
 * is block-diagonal; here it is the full n×n product with an additive mask ({@link AttentionMask#MASKED} outside
 * the block), which gives the same result as transformers' per-window split. Inference runs the same pieces
 * ({@link #patchEmbed}, {@link #block}, {@link #merger}) one block at a time in {@link LayerwiseQwen25VlVisionTower},
 * which attends within each window only and reorders rows by index instead of by matmul.
 *
 * <p>The graph is differentiable end to end (the demo pretrains it from scratch): the window reorder and its
 * reverse are batched matmuls with 0/1 permutation matrices over merged units, not gathers (SameDiff M2.1 cannot
 * differentiate a graph with two gathers), and q/k/v are split from the fused qkv projection along the feature axis.
 *
 * <p>The weights are the graph's variables under the hub's key names ({@code visual.blocks.N.attn.qkv.weight},
 * ...; see {@link org.mha2mla.layers.text.Params}); the Conv3d kernel is reshaped in the graph. Index
 * bookkeeping (window order, rotary angles, masks) is plain Java per call and enters as placeholders.
 */
public final class Qwen25VlVisionTower {

    /** transformers' Qwen2RMSNorm in the vision tower is built with eps 1e-6 whatever the config says. */
    static final double RMS_EPS = 1e-6;
    /** Qwen2_5_VisionRotaryEmbedding's default theta (the vision config has no field for it). */
    static final double ROPE_THETA = 10000.0;

    /** FLOAT [B, n, C·T·P·P]: the patches of each batch row, in the processor's order. */
    public static final String IN_PIXELS = "pixel_values";
    /** FLOAT [B, U, U] (U = n / merge²): row k is one-hot at the merged unit that sits at window position k. */
    static final String IN_WINDOW_ORDER = "window_order";
    static final String IN_COS = "vision_rope_cos";
    static final String IN_SIN = "vision_rope_sin";
    static final String IN_WINDOW_MASK = "window_attention_mask";
    static final String IN_FULL_MASK = "full_attention_mask";
    /** FLOAT [B, U, U]: the inverse of {@link #IN_WINDOW_ORDER} (its transpose), back to the processor's order. */
    static final String IN_REVERSE = "reverse_window_order";
    /** [B·U, out_hidden_size]: the merged features, batch rows one after the other. */
    public static final String OUT_IMAGE_EMBEDS = "image_embeds";

    /**
     * transformers' {@code get_window_index}: {@code index[k]} = the merged unit (in processor order) that sits
     * at position k in window order; {@code cuWindowSeqlens} = window boundaries in patches, after
     * {@code unique_consecutive} (empty padded windows removed).
     */
    public record WindowIndex(int[] index, int[] cuWindowSeqlens) {
    }

    private final SameDiff sd;
    private final Qwen25VlVisionConfig config;
    private final String scope;
    private final SDVariable batchedEmbeds;

    /**
     * Adds the tower to {@code sd}, whose variables already hold the checkpoint tensors under hub keys
     * ({@code prefix} = {@code visual.}: {@code visual.blocks.0.attn.qkv.weight}, ...). Placeholders and nodes
     * are named under {@code scope/} so the tower can share a graph with the decoder.
     */
    public Qwen25VlVisionTower(SameDiff sd, Qwen25VlVisionConfig config, String prefix, String scope) {
        this.sd = sd;
        this.config = config;
        this.scope = scope;
        int headDim = config.headDim();
        int unit = config.spatialMergeSize() * config.spatialMergeSize();

        SDVariable pixels = sd.placeHolder(name(IN_PIXELS), DataType.FLOAT, -1, -1, config.patchVolume());
        SDVariable windowOrder = sd.placeHolder(name(IN_WINDOW_ORDER), DataType.FLOAT, -1, -1, -1);
        // [n, d] tables broadcast over the batch and head axes of q, k [B, heads, n, d]
        SDVariable cos = sd.expandDims(sd.expandDims(sd.placeHolder(name(IN_COS), DataType.FLOAT, -1, headDim), 0), 0);
        SDVariable sin = sd.expandDims(sd.expandDims(sd.placeHolder(name(IN_SIN), DataType.FLOAT, -1, headDim), 0), 0);
        SDVariable windowMask = sd.expandDims(sd.expandDims(sd.placeHolder(name(IN_WINDOW_MASK), DataType.FLOAT, -1, -1), 0), 0);
        SDVariable fullMask = sd.expandDims(sd.expandDims(sd.placeHolder(name(IN_FULL_MASK), DataType.FLOAT, -1, -1), 0), 0);
        SDVariable reverse = sd.placeHolder(name(IN_REVERSE), DataType.FLOAT, -1, -1, -1);

        SDVariable x = patchEmbed(sd, config, prefix, name("patch_embed"), pixels);
        // A merged unit's `unit` patches are consecutive rows and move together (transformers reshapes to
        // [N/unit, unit, d] before indexing with window_index): permute [B, U, unit·d] rows.
        x = sd.reshape(name("window_order/out"), sd.mmul(windowOrder, units(sd, x, unit * config.hiddenSize())), sd.shape(x));

        for (int i = 0; i < config.depth(); i++) {
            SDVariable mask = config.fullattBlockIndexes().contains(i) ? fullMask : windowMask;
            x = block(sd, config, blockKey(prefix, i), name("blocks." + i + "/"), x, masked(cos, sin, mask));
        }
        SDVariable merged = merger(sd, config, prefix, name(""), x);                              // [B, U, out]
        this.batchedEmbeds = sd.mmul(name("image_embeds_batched"), reverse, merged);               // [B, U, out]
        sd.reshape(name(OUT_IMAGE_EMBEDS), batchedEmbeds, -1, config.outHiddenSize());
    }

    /** Key prefix of block i, e.g. {@code visual.blocks.3.}. */
    static String blockKey(String prefix, int block) {
        return prefix + "blocks." + block + ".";
    }

    /**
     * Qwen2_5_VisionPatchEmbed: Conv3d with kernel == stride over a [C, T, P, P] patch is a dot product with the
     * flattened kernel; pixel_values rows [.., C·T·P·P] are flattened in the same (C, T, P, P) order. No bias.
     */
    static SDVariable patchEmbed(SameDiff sd, Qwen25VlVisionConfig config, String prefix, String name, SDVariable pixels) {
        long hidden = config.hiddenSize();
        SDVariable conv = Params.get(sd, prefix + "patch_embed.proj.weight",
                hidden, config.inChannels(), config.temporalPatchSize(), config.patchSize(), config.patchSize());
        SDVariable kernel = sd.reshape(conv, hidden, config.patchVolume());
        return Linear.apply(sd, name, pixels, kernel, config.patchVolume(), hidden);
    }

    /**
     * Qwen2_5_VLVisionBlock {@code key} (e.g. {@code visual.blocks.0.}) on x [B, n, hidden]: x + attn(norm1(x)), then
     * x + mlp(norm2(x)) (SwiGLU with biases); {@code groups} says which rows attend to which. Nodes are named
     * {@code at + "attn_residual"} and {@code at + "mlp_residual"} (the output).
     */
    static SDVariable block(SameDiff sd, Qwen25VlVisionConfig config, String key, String at, SDVariable x, AttentionGroups groups) {
        long hidden = config.hiddenSize();
        SDVariable h = new RmsNorm(sd, key + "norm1.weight", hidden, RMS_EPS).forward(at + "norm1", x);
        x = x.add(at + "attn_residual", attention(sd, config, key + "attn", at + "attn", h, groups));
        h = new RmsNorm(sd, key + "norm2.weight", hidden, RMS_EPS).forward(at + "norm2", x);
        SDVariable mlp = new SwiGluMlp(sd, key + "mlp", hidden, config.intermediateSize(), config.hiddenAct(), true)
                .forward(at + "mlp", h);
        return x.add(at + "mlp_residual", mlp);
    }

    /**
     * Qwen2_5_VLPatchMerger on x [B, n, hidden] whose merged units are runs of merge² consecutive rows: RMSNorm ln_q,
     * each unit's rows side by side [B, n / merge², merge²·hidden], Linear → GELU(erf) → Linear; [B, U, out_hidden_size].
     */
    static SDVariable merger(SameDiff sd, Qwen25VlVisionConfig config, String prefix, String at, SDVariable x) {
        long hidden = config.hiddenSize();
        long mergedWidth = hidden * config.spatialMergeSize() * config.spatialMergeSize();
        SDVariable h = new RmsNorm(sd, prefix + "merger.ln_q.weight", hidden, RMS_EPS).forward(at + "merger/ln_q", x);
        h = units(sd, h, mergedWidth);                                                            // [B, U, unit·d]
        h = Linear.of(sd, prefix + "merger.mlp.0", mergedWidth, mergedWidth, true).forward(at + "merger/mlp.0", h);
        h = Activations.apply(sd, "gelu", at + "merger/gelu", h);   // nn.GELU(): the exact erf form
        return Linear.of(sd, prefix + "merger.mlp.2", mergedWidth, config.outHiddenSize(), true).forward(at + "merger/mlp.2", h);
    }

    /** [B, n, w] → [B, n·w / width, width] with B read at run time (n varies per call too). */
    private static SDVariable units(SameDiff sd, SDVariable x, long width) {
        SDVariable batch = sd.slice(x.shape(), new int[] {0}, 1);
        return sd.reshape(x, sd.concat(0, batch, sd.constant(Nd4j.createFromArray(-1L, width))));
    }

    /** The graph node or placeholder {@code local} of this tower (e.g. {@code name(OUT_IMAGE_EMBEDS)}). */
    public String name(String local) {
        return scope + "/" + local;
    }

    public Qwen25VlVisionConfig config() {
        return config;
    }

    public SameDiff sameDiff() {
        return sd;
    }

    /** The merged features per batch row [B, U, out_hidden_size], units in the processor's order (for graphs built on top). */
    public SDVariable imageEmbeds() {
        return batchedEmbeds;
    }

    /**
     * Image features for the decoder: [Σ t·h·w / merge², out_hidden_size], images in the order of
     * {@code gridThw}, units in the processor's order (the order of the image tokens).
     *
     * @param pixelValues [Σ t·h·w, C·T·P·P] float32, as the processor returns it
     * @param gridThw     per image [t, h, w] in patches
     */
    public INDArray forward(INDArray pixelValues, int[][] gridThw) {
        String out = name(OUT_IMAGE_EMBEDS);
        return sd.output(placeholders(pixelValues, gridThw), out).get(out);
    }

    /**
     * The placeholder values for one call with every image in one batch row (exposed so a caller can run the
     * graph with its own outputs).
     */
    public Map<String, INDArray> placeholders(INDArray pixelValues, int[][] gridThw) {
        checkInput(pixelValues, gridThw, config);
        return feed(pixelValues.reshape(1, numPatches(gridThw), config.patchVolume()), gridThw, 1);
    }

    /** Checks pixel_values [Σ t·h·w, C·T·P·P] against image_grid_thw (h, w multiples of spatial_merge_size). */
    static void checkInput(INDArray pixelValues, int[][] gridThw, Qwen25VlVisionConfig config) {
        int n = numPatches(gridThw);
        checkGrid(gridThw, config);
        if (pixelValues.rank() != 2 || pixelValues.size(0) != n || pixelValues.size(1) != config.patchVolume()) {
            throw new IllegalArgumentException("pixel_values: expected [" + n + ", " + config.patchVolume()
                    + "] for image_grid_thw " + Arrays.deepToString(gridThw) + ", got " + Arrays.toString(pixelValues.shape()));
        }
    }

    /**
     * The placeholder values for a batch of images that share one grid: {@code pixelValues} [B, t·h·w, C·T·P·P],
     * row b the processor output of image b alone.
     */
    public Map<String, INDArray> batchPlaceholders(INDArray pixelValues, int[] gridThw) {
        int[][] grid = {gridThw};
        checkGrid(grid, config);
        int n = numPatches(grid);
        if (pixelValues.rank() != 3 || pixelValues.size(1) != n || pixelValues.size(2) != config.patchVolume()) {
            throw new IllegalArgumentException("pixel_values: expected [B, " + n + ", " + config.patchVolume()
                    + "] for a batch of images of grid " + Arrays.toString(gridThw) + ", got " + Arrays.toString(pixelValues.shape()));
        }
        return feed(pixelValues, grid, (int) pixelValues.size(0));
    }

    private static void checkGrid(int[][] gridThw, Qwen25VlVisionConfig config) {
        int merge = config.spatialMergeSize();
        for (int[] g : gridThw) {
            if (g.length != 3 || g[1] % merge != 0 || g[2] % merge != 0) {
                throw new IllegalArgumentException("image_grid_thw " + Arrays.toString(g)
                        + ": expected [t, h, w] with h and w multiples of spatial_merge_size " + merge);
            }
        }
    }

    /** Placeholders for {@code batch} rows, each holding the images of {@code gridThw} concatenated. */
    private Map<String, INDArray> feed(INDArray pixels, int[][] gridThw, int batch) {
        int n = numPatches(gridThw);
        WindowIndex windows = windowIndex(gridThw, config);
        int units = windows.index.length;

        INDArray[] rope = ropeTables(gridThw, config, windows);
        argsort(windows.index);   // checks it is a permutation
        float[] order = new float[units * units];
        float[] back = new float[units * units];
        for (int k = 0; k < units; k++) {
            order[k * units + windows.index[k]] = 1f;      // window position k ← unit index[k]
            back[windows.index[k] * units + k] = 1f;       // unit index[k] ← window position k (the transpose)
        }

        Map<String, INDArray> ph = new HashMap<>();
        // A fresh c-order copy: views (offsets, strides) fed as placeholders are not read correctly.
        ph.put(name(IN_PIXELS), pixels.castTo(DataType.FLOAT).dup('c'));
        ph.put(name(IN_WINDOW_ORDER), perBatchRow(order, units, batch));
        ph.put(name(IN_COS), rope[0]);
        ph.put(name(IN_SIN), rope[1]);
        ph.put(name(IN_WINDOW_MASK), blockMask(windows.cuWindowSeqlens, n));
        ph.put(name(IN_FULL_MASK), blockMask(cuSeqlens(gridThw), n));
        ph.put(name(IN_REVERSE), perBatchRow(back, units, batch));
        return ph;
    }

    /**
     * The vision RoPE tables {cos, sin} [n, head_dim] of the patches in window order (row r is patch r % merge² of the
     * unit at window position r / merge²): emb = cat(rotary_pos_emb, rotary_pos_emb), the rotate_half pair layout
     * (dims c and c + d/2).
     */
    static INDArray[] ropeTables(int[][] gridThw, Qwen25VlVisionConfig config, WindowIndex windows) {
        int n = numPatches(gridThw);
        int unit = config.spatialMergeSize() * config.spatialMergeSize();
        float[][] angles = rotaryAngles(gridThw, config);
        int headDim = config.headDim();
        int half = headDim / 2;
        float[] cos = new float[n * headDim];
        float[] sin = new float[n * headDim];
        for (int r = 0; r < n; r++) {
            float[] a = angles[windows.index[r / unit] * unit + r % unit];
            for (int c = 0; c < half; c++) {
                float cv = (float) Math.cos(a[c]);
                float sv = (float) Math.sin(a[c]);
                cos[r * headDim + c] = cv;
                cos[r * headDim + c + half] = cv;
                sin[r * headDim + c] = sv;
                sin[r * headDim + c + half] = sv;
            }
        }
        return new INDArray[] {Nd4j.create(cos, new long[] {n, headDim}, 'c'), Nd4j.create(sin, new long[] {n, headDim}, 'c')};
    }

    /** A [units, units] matrix repeated for every batch row: [batch, units, units]. */
    private static INDArray perBatchRow(float[] matrix, int units, int batch) {
        float[] out = new float[batch * matrix.length];
        for (int b = 0; b < batch; b++) System.arraycopy(matrix, 0, out, b * matrix.length, matrix.length);
        return Nd4j.create(out, new long[] {batch, units, units}, 'c');
    }

    // ---- graph pieces, in the order the math happens ----

    /**
     * Which rows attend to which in a block's attention: the whole graph attends over every row with an additive mask
     * ({@link #masked}); {@link LayerwiseQwen25VlVisionTower} gathers each window into a batch row of its own.
     */
    interface AttentionGroups {
        /** Attention output [B, n, hidden] (before proj) of the fused q | k | v projection {@code qkv} [B, n, 3·hidden]. */
        SDVariable attend(SameDiff sd, String at, SDVariable qkv, int heads, int headDim);
    }

    /** Every row attends to every row of its batch row, plus an additive mask [1|B, 1, n, n] and RoPE tables [1|B, 1, n, d]. */
    static AttentionGroups masked(SDVariable cos, SDVariable sin, SDVariable mask) {
        return (sd, at, qkv, heads, headDim) -> attentionCore(sd, at, qkv, cos, sin, mask, heads, headDim);
    }

    /**
     * Qwen2_5_VLVisionAttention: one qkv Linear with bias (output features ordered q | k | v, heads inside each),
     * vision RoPE on q and k, softmax over the rows {@code groups} lets each row see, proj. h [B, n, hidden].
     */
    private static SDVariable attention(SameDiff sd, Qwen25VlVisionConfig config, String key, String at, SDVariable h,
                                        AttentionGroups groups) {
        long hidden = config.hiddenSize();
        SDVariable qkv = Linear.of(sd, key + ".qkv", hidden, 3 * hidden, true).forward(at + "/qkv", h);
        SDVariable out = groups.attend(sd, at, qkv, config.numHeads(), config.headDim());         // [B, n, hidden]
        return Linear.of(sd, key + ".proj", hidden, hidden, true).forward(at + "/proj", out);
    }

    /**
     * Attention of q | k | v [B, L, 3·hidden] within each batch row: vision RoPE (apply_rotary_pos_emb_vision,
     * float32 here anyway; cos/sin [1|B, 1, L, d] broadcast over the heads), softmax(q·kᵀ/√d + mask)·v with an
     * additive mask [1|B, 1, 1|L, L]; [B, L, hidden].
     */
    static SDVariable attentionCore(SameDiff sd, String at, SDVariable qkv, SDVariable cos, SDVariable sin, SDVariable mask,
                                    int heads, int headDim) {
        SDVariable[] parts = sd.split(qkv, 3, -1);                                                 // each [B, L, hidden]
        SDVariable q = RotaryEmbedding.apply(sd, at + "/q_rot", Heads.split(sd, at + "/q", parts[0], heads, headDim), cos, sin);
        SDVariable k = RotaryEmbedding.apply(sd, at + "/k_rot", Heads.split(sd, at + "/k", parts[1], heads, headDim), cos, sin);
        SDVariable v = Heads.split(sd, at + "/v", parts[2], heads, headDim);                       // [B, heads, L, d]
        SDVariable scores = sd.mmul(q, k, false, true, false).mul(1.0 / Math.sqrt(headDim)).add(mask);
        SDVariable probs = sd.nn().softmax(at + "/probs", scores, -1);
        return Heads.merge(sd, at + "/out", sd.mmul(probs, v), heads, headDim);                    // [B, L, hidden]
    }

    // ---- index bookkeeping (plain Java, per call) ----

    static int numPatches(int[][] gridThw) {
        int n = 0;
        for (int[] g : gridThw) n += g[0] * g[1] * g[2];
        return n;
    }

    /**
     * rot_pos_emb: per patch (processor order) the angles [h·θ_0, …, h·θ_{d/4−1}, w·θ_0, …, w·θ_{d/4−1}]
     * where (h, w) is the patch's row and column, patches enumerated merge-unit by merge-unit as the
     * processor flattens them, repeated for every temporal slice. θ_j = theta^(−2j / (d/2)) with d the head
     * dim (Qwen2_5_VisionRotaryEmbedding(head_dim / 2)); computed in float32 as torch does.
     */
    static float[][] rotaryAngles(int[][] gridThw, Qwen25VlVisionConfig config) {
        float[] invFreq = Rope.invFreq(config.headDim() / 2, ROPE_THETA);
        int nFreq = invFreq.length;
        int merge = config.spatialMergeSize();
        float[][] out = new float[numPatches(gridThw)][];
        int r = 0;
        for (int[] g : gridThw) {
            int t = g[0], h = g[1], w = g[2];
            for (int ti = 0; ti < t; ti++) {
                for (int bh = 0; bh < h / merge; bh++) {
                    for (int bw = 0; bw < w / merge; bw++) {
                        for (int ih = 0; ih < merge; ih++) {
                            for (int iw = 0; iw < merge; iw++) {
                                float hp = bh * merge + ih;
                                float wp = bw * merge + iw;
                                float[] a = new float[2 * nFreq];
                                for (int j = 0; j < nFreq; j++) {
                                    a[j] = hp * invFreq[j];
                                    a[nFreq + j] = wp * invFreq[j];
                                }
                                out[r++] = a;
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    /**
     * get_window_index: per image, the merged-unit grid [t, h/m, w/m] is padded (always by at least one row /
     * column of empty windows, as transformers pads by {@code ws − n % ws}) to multiples of the window side
     * ws = window_size / merge / patch_size, cut into ws×ws windows row-major, padding dropped.
     */
    public static WindowIndex windowIndex(int[][] gridThw, Qwen25VlVisionConfig config) {
        int merge = config.spatialMergeSize();
        int unit = merge * merge;
        int ws = config.windowSize() / merge / config.patchSize();
        if (ws <= 0) {
            throw new IllegalArgumentException("window_size " + config.windowSize() + " is smaller than one merged unit ("
                    + merge * config.patchSize() + " pixels)");
        }
        List<Integer> index = new ArrayList<>();
        List<Integer> cu = new ArrayList<>();
        cu.add(0);
        int offset = 0;
        for (int[] g : gridThw) {
            int t = g[0], lh = g[1] / merge, lw = g[2] / merge;
            int nwh = (lh + ws - lh % ws) / ws;
            int nww = (lw + ws - lw % ws) / ws;
            for (int ti = 0; ti < t; ti++) {
                for (int wh = 0; wh < nwh; wh++) {
                    for (int ww = 0; ww < nww; ww++) {
                        int count = 0;
                        for (int ih = 0; ih < ws; ih++) {
                            for (int iw = 0; iw < ws; iw++) {
                                int row = wh * ws + ih, col = ww * ws + iw;
                                if (row < lh && col < lw) {
                                    index.add(offset + (ti * lh + row) * lw + col);
                                    count++;
                                }
                            }
                        }
                        int end = cu.get(cu.size() - 1) + count * unit;
                        // torch.unique_consecutive on the boundaries: empty windows add no boundary.
                        if (end != cu.get(cu.size() - 1)) cu.add(end);
                    }
                }
            }
            offset += t * lh * lw;
        }
        return new WindowIndex(index.stream().mapToInt(Integer::intValue).toArray(),
                cu.stream().mapToInt(Integer::intValue).toArray());
    }

    /** cu_seqlens for the full-attention blocks: one block per image and temporal slice (h·w patches each). */
    public static int[] cuSeqlens(int[][] gridThw) {
        List<Integer> cu = new ArrayList<>();
        cu.add(0);
        for (int[] g : gridThw) {
            for (int ti = 0; ti < g[0]; ti++) cu.add(cu.get(cu.size() - 1) + g[1] * g[2]);
        }
        return cu.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Additive [n, n] mask: 0 inside each [cu[i], cu[i+1]) block, {@link AttentionMask#MASKED} elsewhere. */
    static INDArray blockMask(int[] cu, int n) {
        if (cu[cu.length - 1] != n) {
            throw new IllegalArgumentException("cu_seqlens end at " + cu[cu.length - 1] + " but there are " + n + " patches");
        }
        float[] m = new float[n * n];
        Arrays.fill(m, AttentionMask.MASKED);
        for (int b = 0; b + 1 < cu.length; b++) {
            for (int r = cu[b]; r < cu[b + 1]; r++) {
                Arrays.fill(m, r * n + cu[b], r * n + cu[b + 1], 0f);
            }
        }
        return Nd4j.create(m, new long[] {n, n}, 'c');
    }

    static int[] argsort(int[] permutation) {
        int[] inv = new int[permutation.length];
        Arrays.fill(inv, -1);
        for (int i = 0; i < permutation.length; i++) {
            if (permutation[i] < 0 || permutation[i] >= permutation.length || inv[permutation[i]] != -1) {
                throw new IllegalStateException("window index is not a permutation at position " + i);
            }
            inv[permutation[i]] = i;
        }
        return inv;
    }
}
