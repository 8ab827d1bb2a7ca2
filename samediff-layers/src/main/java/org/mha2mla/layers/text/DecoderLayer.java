package org.mha2mla.layers.text;

import java.util.List;

import org.mha2mla.core.config.TextConfig;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * LlamaDecoderLayer / Qwen2DecoderLayer: x + attn(input_layernorm(x)), then h + mlp(post_attention_layernorm(h)).
 */
public final class DecoderLayer {

    private final SameDiff sd;
    private final RmsNorm inputLayernorm;
    private final DecoderAttention selfAttn;
    private final RmsNorm postAttentionLayernorm;
    private final SwiGluMlp mlp;
    private final long hidden;

    /** {@code key} is the layer prefix, e.g. {@code language_model.model.layers.0}. */
    public DecoderLayer(SameDiff sd, TextConfig config, String key, DecoderAttention selfAttn) {
        long d = config.hiddenSize();
        this.sd = sd;
        this.hidden = d;
        this.inputLayernorm = new RmsNorm(sd, key + ".input_layernorm.weight", d, config.rmsNormEps());
        this.selfAttn = selfAttn;
        this.postAttentionLayernorm = new RmsNorm(sd, key + ".post_attention_layernorm.weight", d, config.rmsNormEps());
        // Llama's mlp_bias defaults to false and Qwen2's MLP has none.
        this.mlp = new SwiGluMlp(sd, key + ".mlp", d, config.intermediateSize(), config.hiddenAct(), false);
    }

    public DecoderAttention selfAttn() {
        return selfAttn;
    }

    /** One pass; returns the layer output [B, L, d] and the attention's present cache tensors. */
    public DecoderAttention.Result forward(String scope, SDVariable x, SDVariable cos, SDVariable sin, SDVariable mask,
                                           SDVariable modality) {
        SDVariable normed = inputLayernorm.forward(scope + "/input_layernorm", x);
        DecoderAttention.Result attn = selfAttn.build(scope + "/self_attn", normed, cos, sin, mask, modality);
        return residualAndMlp(scope, x, attn);
    }

    /**
     * One pass of the query rows {@code queries} ([B, L_q, d], with their RoPE tables) over the cache tensors of the
     * rows they attend to ({@link DecoderAttention#attend}); returns the output of the query rows [B, L_q, d].
     */
    public DecoderAttention.Result attend(String scope, DecoderAttention.Queries queries, List<SDVariable> present, SDVariable mask) {
        SDVariable normedQueries = inputLayernorm.forward(scope + "/input_layernorm_queries", queries.x());
        DecoderAttention.Result attn = selfAttn.attend(scope + "/self_attn",
                new DecoderAttention.Queries(normedQueries, queries.cos(), queries.sin()), present, mask);
        return residualAndMlp(scope, queries.x(), attn);
    }

    /** The residuals on rows: the layer's input, the attention's and the MLP's outputs are all made from rows ({@link Rows}). */
    private DecoderAttention.Result residualAndMlp(String scope, SDVariable x, DecoderAttention.Result attn) {
        SDVariable lead = Rows.lead(sd, x);
        SDVariable h = Rows.restore(sd, scope + "/attn_residual", Rows.of(sd, x, hidden).add(Rows.of(sd, attn.output(), hidden)), lead, hidden);
        SDVariable mlpOut = mlp.forward(scope + "/mlp", postAttentionLayernorm.forward(scope + "/post_attention_layernorm", h));
        SDVariable out = Rows.restore(sd, scope + "/out", Rows.of(sd, h, hidden).add(Rows.of(sd, mlpOut, hidden)), lead, hidden);
        return new DecoderAttention.Result(out, attn.present(), attn.probs());
    }
}
