package org.mha2mla.layers.text;

import java.util.List;

import org.mha2mla.core.config.TextConfig;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * LlamaAttention / Qwen2Attention (MHA when n_kv = n_h, GQA otherwise), as modeling_llama.py writes it:
 * q/k/v projections (bias for Qwen2), RoPE on q and k, repeat_kv, {@code softmax(QKᵀ/√d_h + mask)·V} per KV group,
 * o_proj. The cache holds k after RoPE and v, [B, n_kv, T, d_h] each (decode steps: {@code decode.GqaStep}).
 */
public final class GqaAttention implements DecoderAttention {

    private final SameDiff sd;
    private final int nH;
    private final int nKv;
    private final int dH;
    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final Linear oProj;

    /** {@code key} is the module prefix, e.g. {@code language_model.model.layers.0.self_attn}. */
    public GqaAttention(SameDiff sd, TextConfig config, String key) {
        this.sd = sd;
        this.nH = config.numAttentionHeads();
        this.nKv = config.numKeyValueHeads();
        this.dH = config.headDim();
        long d = config.hiddenSize();
        boolean bias = config.attentionBias();
        this.qProj = Linear.of(sd, key + ".q_proj", d, (long) nH * dH, bias);
        this.kProj = Linear.of(sd, key + ".k_proj", d, (long) nKv * dH, bias);
        this.vProj = Linear.of(sd, key + ".v_proj", d, (long) nKv * dH, bias);
        // Llama's attention_bias also puts a bias on o_proj, Qwen2's never does: take it when the file has it.
        this.oProj = Linear.withOptionalBias(sd, key + ".o_proj", (long) nH * dH, d);
    }

    /** Node name of the queries [B, n_h, L, d_h] before RoPE in the pass {@code scope}. */
    public static String queryBeforeRope(String scope) {
        return scope + "/q";
    }

    /** Node name of the keys [B, n_kv, L, d_h] before RoPE in the pass {@code scope}. */
    public static String keyBeforeRope(String scope) {
        return scope + "/k";
    }

    @Override
    public List<CacheTensor> cacheTensors() {
        return List.of(new CacheTensor("key", new long[]{-1, nKv, -1, dH}, 2),
                new CacheTensor("value", new long[]{-1, nKv, -1, dH}, 2));
    }

    @Override
    public Result build(String scope, Queries queries, SDVariable x, SDVariable cos, SDVariable sin, SDVariable mask,
                        SDVariable modality) {
        return build(scope, queries, x, cos, sin, mask);
    }

    /**
     * One pass with the keys' RoPE tables ({@code cosK}/{@code sinK}, [B|1, 1|n_kv, T, d_h]) apart from the queries'
     * ([B|1, 1|n_h, L_q, d_h], in {@code queries}): partial RoPE passes tables with cos 1 / sin 0 on the NoPE dims of
     * each head. The pre-RoPE heads are named {@link #queryBeforeRope}/{@link #keyBeforeRope} (calibration reads them).
     */
    public Result build(String scope, Queries queries, SDVariable x, SDVariable cosK, SDVariable sinK, SDVariable mask) {
        SDVariable k = Heads.split(sd, keyBeforeRope(scope), kProj.forward(scope + "/k_proj", x), nKv, dH);
        SDVariable v = Heads.split(sd, scope + "/v", vProj.forward(scope + "/v_proj", x), nKv, dH);
        k = RotaryEmbedding.apply(sd, scope + "/k_rope", k, cosK, sinK, nKv);
        return attend(scope, queries, k, v, mask);
    }

    @Override
    public Result attend(String scope, Queries queries, List<SDVariable> present, SDVariable mask) {
        return attend(scope, queries, present.get(0), present.get(1), mask);
    }

    /** The query rows' attention over keys after RoPE {@code k} and values {@code v}, [B, n_kv, T, d_h] each. */
    private Result attend(String scope, Queries queries, SDVariable k, SDVariable v, SDVariable mask) {
        SDVariable q = Heads.split(sd, queryBeforeRope(scope), qProj.forward(scope + "/q_proj", queries.x()), nH, dH);
        q = RotaryEmbedding.apply(sd, scope + "/q_rope", q, queries.cos(), queries.sin(), nH);
        Heads.Attention a = Heads.groupedAttention(sd, scope, q, k, v, mask, nKv, nH / nKv, dH, dH);
        SDVariable attn = Heads.merge(sd, scope + "/attn", a.output(), Rows.lead(sd, queries.x()), nH, dH);
        return new Result(oProj.forward(scope + "/o_proj", attn), List.of(k, v), a.probs());
    }
}
