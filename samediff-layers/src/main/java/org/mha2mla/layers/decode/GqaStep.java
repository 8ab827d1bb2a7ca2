package org.mha2mla.layers.decode;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.tensor.Kernels;
import org.mha2mla.core.tensor.StoredTensor;

/**
 * The decode step of LlamaAttention / Qwen2Attention (MHA when n_kv = n_h, GQA otherwise), and of the partial-RoPE
 * model (MHA2MLA's first step): q/k/v projections (bias for Qwen2) of the new token, RoPE at its position — only
 * on each KV head's kept pairs for partial RoPE, the query heads of a group sharing their KV head's — the key after
 * RoPE and the value written into the cache ([n_kv·d_h] rows), then per KV head j its g = n_h/n_kv query heads
 * attend over the cached keys and values of head j ({@link CachedAttention}; K and V are never repeated), and
 * o_proj. Scores are q·k/√d_h, as transformers' eager attention.
 */
final class GqaStep implements AttentionStep, CachedAttention.Tiles {

    private static final int KEY = 0;
    private static final int VALUE = 1;

    private final int nH;
    private final int nKv;
    private final int dH;
    private final int group;
    private final float scale;
    private final StoredTensor qProj;
    private final StoredTensor kProj;
    private final StoredTensor vProj;
    private final StoredTensor oProj;
    private final float[] qBias;
    private final float[] kBias;
    private final float[] vBias;
    private final float[] oBias;
    private final boolean[][] kept;
    private final CachedAttention attention = new CachedAttention(2);
    private final Kernels k = Kernels.get();
    private float[] q;
    private float[] key;
    private float[] value;
    private float[] heads;
    private StaticCache cache;
    private int layer;

    /**
     * @param key  module prefix, e.g. {@code model.layers.0.self_attn}
     * @param kept per KV head, which RoPE pairs are rotated ([n_kv][d_h/2]); null rotates all (the original model)
     */
    GqaStep(LayerWeights w, TextConfig config, String key, boolean[][] kept) {
        this.nH = config.numAttentionHeads();
        this.nKv = config.numKeyValueHeads();
        this.dH = config.headDim();
        this.group = nH / nKv;
        this.scale = (float) (1.0 / Math.sqrt(dH));
        long d = config.hiddenSize();
        boolean bias = config.attentionBias();
        this.qProj = w.matrix(key + ".q_proj.weight", (long) nH * dH, d);
        this.kProj = w.matrix(key + ".k_proj.weight", (long) nKv * dH, d);
        this.vProj = w.matrix(key + ".v_proj.weight", (long) nKv * dH, d);
        this.oProj = w.matrix(key + ".o_proj.weight", d, (long) nH * dH);
        this.qBias = bias ? w.vector(key + ".q_proj.bias", (long) nH * dH) : null;
        this.kBias = bias ? w.vector(key + ".k_proj.bias", (long) nKv * dH) : null;
        this.vBias = bias ? w.vector(key + ".v_proj.bias", (long) nKv * dH) : null;
        // Llama's attention_bias also puts a bias on o_proj, Qwen2's never does: take it when the file has it.
        this.oBias = w.optionalVector(key + ".o_proj.bias", d);
        this.kept = kept;
    }

    @Override
    public int heads() {
        return nH;
    }

    @Override
    public int width() {
        return dH;
    }

    @Override
    public int modalities() {
        return 1;
    }

    @Override
    public void run(float[] x, int batch, StepRope rope, float[] modality, StaticCache cache, int layer, float[] out,
                    float[] probs, int probsStride, StepProfile profile) {
        q = LayerWeights.ensure(q, batch * nH * dH);
        key = LayerWeights.ensure(key, batch * nKv * dH);
        value = LayerWeights.ensure(value, batch * nKv * dH);
        heads = LayerWeights.ensure(heads, batch * nH * dH);
        LayerWeights.linear(qProj, qBias, x, batch, q);
        LayerWeights.linear(kProj, kBias, x, batch, key);
        LayerWeights.linear(vProj, vBias, x, batch, value);
        if (profile != null) profile.lap(StepProfile.Phase.QKV_PROJ);

        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < nH; h++) rope.rotate(q, (b * nH + h) * dH, dH, b, null, kept == null ? null : kept[h / group]);
            for (int j = 0; j < nKv; j++) rope.rotate(key, (b * nKv + j) * dH, dH, b, null, kept == null ? null : kept[j]);
        }
        cache.append(layer);
        for (int b = 0; b < batch; b++) {
            cache.put(layer, KEY, b, key, b * nKv * dH);
            cache.put(layer, VALUE, b, value, b * nKv * dH);
        }
        cache.filled(layer);
        if (profile != null) profile.lap(StepProfile.Phase.ROPE_AND_CACHE_WRITE);

        this.cache = cache;
        this.layer = layer;
        attention.run(this, cache, layer, batch, heads, probs, probsStride);
        cache.settle(layer);
        if (profile != null) profile.lap(StepProfile.Phase.ATTENTION);

        LayerWeights.linear(oProj, oBias, heads, batch, out);
        if (profile != null) profile.lap(StepProfile.Phase.O_PROJ);
    }

    /** Per KV head j: its g query heads against the tile's keys of head j (rows of n_kv·d_h, head j at j·d_h). */
    @Override
    public void scores(CachedAttention.Work w, int b, int from, int n, float[] s, int sStride) {
        var keys = w.tile(cache, layer, KEY, b, from, n);
        for (int j = 0; j < nKv; j++) {
            k.dots(q, (b * nH + j * group) * dH, dH, group, keys.data, keys.offset + j * dH, keys.stride, n, dH,
                    scale, false, s, j * group * sStride, sStride, 1);
        }
    }

    @Override
    public void values(CachedAttention.Work w, int b, int from, int n, float[] p, int pStride, float[] acc) {
        var values = w.tile(cache, layer, VALUE, b, from, n);
        for (int j = 0; j < nKv; j++) {
            k.weightedRows(p, j * group * pStride, pStride, group, values.data, values.offset + j * dH, values.stride, n, dH,
                    acc, j * group * dH, dH);
        }
    }
}
