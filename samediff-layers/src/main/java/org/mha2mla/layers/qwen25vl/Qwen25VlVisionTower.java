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
 * <p>Attention over windows is block-diagonal; here it is the full N×N product with an additive mask
 * (−max outside the block), which gives the same result as transformers' per-window split and is cheap at
 * Qwen2.5-VL image sizes (a ~1000-patch image is a 1000×1000 mask per head).
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

    public static final String IN_PIXELS = "pixel_values";
    static final String IN_PATCH_ORDER = "window_patch_index";
    static final String IN_COS = "vision_rope_cos";
    static final String IN_SIN = "vision_rope_sin";
    static final String IN_WINDOW_MASK = "window_attention_mask";
    static final String IN_FULL_MASK = "full_attention_mask";
    static final String IN_REVERSE = "reverse_window_index";
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

    /**
     * Adds the tower to {@code sd}, whose variables already hold the checkpoint tensors under hub keys
     * ({@code prefix} = {@code visual.}: {@code visual.blocks.0.attn.qkv.weight}, ...). Placeholders and nodes
     * are named under {@code scope/} so the tower can share a graph with the decoder.
     */
    public Qwen25VlVisionTower(SameDiff sd, Qwen25VlVisionConfig config, String prefix, String scope) {
        this.sd = sd;
        this.config = config;
        this.scope = scope;
        long hidden = config.hiddenSize();
        int heads = config.numHeads();
        int headDim = config.headDim();
        int unit = config.spatialMergeSize() * config.spatialMergeSize();

        SDVariable pixels = sd.placeHolder(name(IN_PIXELS), DataType.FLOAT, -1, config.patchVolume());
        SDVariable patchOrder = sd.placeHolder(name(IN_PATCH_ORDER), DataType.INT64, -1);
        SDVariable cos = sd.expandDims(sd.placeHolder(name(IN_COS), DataType.FLOAT, -1, headDim), 1);
        SDVariable sin = sd.expandDims(sd.placeHolder(name(IN_SIN), DataType.FLOAT, -1, headDim), 1);
        SDVariable windowMask = sd.placeHolder(name(IN_WINDOW_MASK), DataType.FLOAT, -1, -1);
        SDVariable fullMask = sd.placeHolder(name(IN_FULL_MASK), DataType.FLOAT, -1, -1);
        SDVariable reverse = sd.placeHolder(name(IN_REVERSE), DataType.INT64, -1);

        // Conv3d with kernel == stride over a [C, T, P, P] patch is a dot product with the flattened kernel;
        // pixel_values rows are flattened in the same (C, T, P, P) order (Qwen2_5_VisionPatchEmbed's view).
        SDVariable conv = Params.get(sd, prefix + "patch_embed.proj.weight",
                hidden, config.inChannels(), config.temporalPatchSize(), config.patchSize(), config.patchSize());
        SDVariable kernel = sd.reshape(conv, hidden, config.patchVolume());
        SDVariable x = sd.mmul(name("patch_embed"), pixels, kernel, false, true, false);
        x = sd.gather(name("window_order"), x, patchOrder, 0);

        for (int i = 0; i < config.depth(); i++) {
            String key = prefix + "blocks." + i + ".";
            String at = name("blocks." + i + "/");
            SDVariable mask = config.fullattBlockIndexes().contains(i) ? fullMask : windowMask;
            SDVariable h = new RmsNorm(sd, key + "norm1.weight", hidden, RMS_EPS).forward(at + "norm1", x);
            x = x.add(at + "attn_residual", attention(sd, key + "attn", at + "attn", h, cos, sin, mask, hidden, heads, headDim));
            h = new RmsNorm(sd, key + "norm2.weight", hidden, RMS_EPS).forward(at + "norm2", x);
            SDVariable mlp = new SwiGluMlp(sd, key + "mlp", hidden, config.intermediateSize(), config.hiddenAct(), true)
                    .forward(at + "mlp", h);
            x = x.add(at + "mlp_residual", mlp);
        }

        // Qwen2_5_VLPatchMerger: the 2×2 unit is contiguous after the window reorder (units move as a whole).
        long mergedWidth = hidden * unit;
        SDVariable h = new RmsNorm(sd, prefix + "merger.ln_q.weight", hidden, RMS_EPS).forward(name("merger/ln_q"), x);
        h = sd.reshape(h, -1, mergedWidth);
        h = Linear.of(sd, prefix + "merger.mlp.0", mergedWidth, mergedWidth, true).forward(name("merger/mlp.0"), h);
        h = Activations.apply(sd, "gelu", name("merger/gelu"), h);   // nn.GELU(): the exact erf form
        h = Linear.of(sd, prefix + "merger.mlp.2", mergedWidth, config.outHiddenSize(), true).forward(name("merger/mlp.2"), h);
        sd.gather(name(OUT_IMAGE_EMBEDS), h, reverse, 0);
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

    /** The placeholder values for one call (exposed so a caller can run the graph with its own outputs). */
    public Map<String, INDArray> placeholders(INDArray pixelValues, int[][] gridThw) {
        int n = numPatches(gridThw);
        int merge = config.spatialMergeSize();
        for (int[] g : gridThw) {
            if (g.length != 3 || g[1] % merge != 0 || g[2] % merge != 0) {
                throw new IllegalArgumentException("image_grid_thw " + Arrays.toString(g)
                        + ": expected [t, h, w] with h and w multiples of spatial_merge_size " + merge);
            }
        }
        if (pixelValues.rank() != 2 || pixelValues.size(0) != n || pixelValues.size(1) != config.patchVolume()) {
            throw new IllegalArgumentException("pixel_values: expected [" + n + ", " + config.patchVolume()
                    + "] for image_grid_thw " + Arrays.deepToString(gridThw) + ", got " + Arrays.toString(pixelValues.shape()));
        }
        int unit = merge * merge;
        WindowIndex windows = windowIndex(gridThw, config);

        // Patch-level order: merged unit u moves with its `unit` consecutive patches (transformers reshapes to
        // [N/unit, unit, d] before indexing with window_index).
        long[] patchOrder = new long[n];
        for (int k = 0; k < windows.index.length; k++) {
            for (int j = 0; j < unit; j++) {
                patchOrder[k * unit + j] = (long) windows.index[k] * unit + j;
            }
        }
        float[][] angles = rotaryAngles(gridThw, config);
        int headDim = config.headDim();
        int half = headDim / 2;
        float[] cos = new float[n * headDim];
        float[] sin = new float[n * headDim];
        for (int r = 0; r < n; r++) {
            float[] a = angles[(int) patchOrder[r]];
            for (int c = 0; c < half; c++) {
                // emb = cat(rotary_pos_emb, rotary_pos_emb): the rotate_half pair layout (dims c and c + d/2).
                float cv = (float) Math.cos(a[c]);
                float sv = (float) Math.sin(a[c]);
                cos[r * headDim + c] = cv;
                cos[r * headDim + c + half] = cv;
                sin[r * headDim + c] = sv;
                sin[r * headDim + c + half] = sv;
            }
        }
        int[] reverse = argsort(windows.index);
        long[] reverseL = new long[reverse.length];
        for (int i = 0; i < reverse.length; i++) reverseL[i] = reverse[i];

        Map<String, INDArray> ph = new HashMap<>();
        // A fresh c-order copy: views (offsets, strides) fed as placeholders are not read correctly.
        ph.put(name(IN_PIXELS), pixelValues.castTo(DataType.FLOAT).dup('c'));
        ph.put(name(IN_PATCH_ORDER), Nd4j.createFromArray(patchOrder));
        ph.put(name(IN_COS), Nd4j.create(cos, new long[] {n, headDim}, 'c'));
        ph.put(name(IN_SIN), Nd4j.create(sin, new long[] {n, headDim}, 'c'));
        ph.put(name(IN_WINDOW_MASK), blockMask(windows.cuWindowSeqlens, n));
        ph.put(name(IN_FULL_MASK), blockMask(cuSeqlens(gridThw), n));
        ph.put(name(IN_REVERSE), Nd4j.createFromArray(reverseL));
        return ph;
    }

    // ---- graph pieces, in the order the math happens ----

    /** Qwen2_5_VLVisionAttention: one qkv Linear with bias, vision RoPE on q and k, masked softmax, proj. */
    private static SDVariable attention(SameDiff sd, String key, String at, SDVariable h, SDVariable cos, SDVariable sin,
                                        SDVariable mask, long hidden, int heads, int headDim) {
        SDVariable qkv = Linear.of(sd, key + ".qkv", hidden, 3 * hidden, true).forward(at + "/qkv", h);
        SDVariable[] parts = sd.unstack(sd.reshape(qkv, -1, 3, heads, headDim), 1, 3);   // each [N, heads, d]
        // apply_rotary_pos_emb_vision (float32 here anyway); cos/sin [N, 1, d] broadcast over heads.
        SDVariable q = sd.permute(RotaryEmbedding.apply(sd, at + "/q_rot", parts[0], cos, sin), 1, 0, 2);  // [heads, N, d]
        SDVariable k = sd.permute(RotaryEmbedding.apply(sd, at + "/k_rot", parts[1], cos, sin), 1, 0, 2);
        SDVariable v = sd.permute(parts[2], 1, 0, 2);
        SDVariable scores = sd.mmul(q, k, false, true, false).mul(1.0 / Math.sqrt(headDim)).add(mask);
        SDVariable probs = sd.nn().softmax(at + "/probs", scores, 2);
        SDVariable out = sd.reshape(sd.permute(sd.mmul(probs, v), 1, 0, 2), -1, hidden);
        return Linear.of(sd, key + ".proj", hidden, hidden, true).forward(at + "/proj", out);
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
