package org.mha2mla.layers.mla;

import java.util.ArrayList;
import java.util.List;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.Heads;
import org.mha2mla.layers.text.Linear;
import org.mha2mla.layers.text.LinearMatmul;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.RotaryEmbedding;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Multi-head latent attention converted from a GQA layer (MHA2MLA-VLM; weights from core's {@code MlaWeights}).
 * Weights under {@code key} = {@code ….layers.N.self_attn}:
 * <pre>
 *   q_proj.{weight,bias}          [n_h·d_h, d]   each head's rows ordered [d_r rope dims ; d_h − d_r NoPE dims]
 *   k_rope_proj.{weight,bias}     [n_kv·d_r, d]  the kept rows of W_k (pair i of a head = dims {i, i + r})
 *   kv_down_proj{.text,.visual}.weight   [rank, d]            W_dkv[m], rank = n_kv·d_kv
 *   k_up_proj{.text,.visual}.weight      [n_kv·(d_h − d_r), rank]   W_uk[m]   (absent when d_r = d_h)
 *   v_up_proj{.text,.visual}.weight      [n_kv·d_h, rank]           W_uv[m]
 *   k_nope_bias [n_kv·(d_h − d_r)], v_bias [n_kv·d_h]   (models with k/v biases), o_proj as before
 * </pre>
 * The {@code .text}/{@code .visual} suffix is there for modality-decoupled factors (MD-SVD); joint and weight-only
 * SVD store one pair without it.
 *
 * <p><b>Prefill and training</b> (no past): q from W_q with RoPE on its first d_r dims; k_rope from the kept rows
 * of W_k with RoPE; c_kv = x·W_dkv[m]ᵀ for each token's modality, computed for both and blended with the 0/1
 * {@code modality} placeholder (a gather would make the graph non-differentiable); k_nope = c_kv·W_uk[m]ᵀ + b,
 * v = c_kv·W_uv[m]ᵀ + b; then GQA attention over k = [k_rope ; k_nope]. The RoPE tables of the kept dims are taken
 * from the shared cos/sin placeholders by a matmul with a constant 0/1 selection matrix (again no gather).
 *
 * <p><b>Cache</b>, per token: {@code c_kv} [B, 1, T, rank] (one latent shared by all heads), {@code k_rope}
 * [B, n_kv, T, d_r] (rotated), and for decoupled factors {@code modality} [B, 1, T, 1] (1 = visual).
 *
 * <p><b>Decode</b> (past given) reads the latent cache directly, never materialising K or V:
 * <pre>
 *   scores = (q_rope·k_ropeᵀ + Σ_m mask_m ⊙ (q_nope·W_uk[m]_j)·c_kvᵀ) / √d_h        (W_uk folded into the query)
 *   out_h  = Σ_m W_uv[m]_j · (probs ⊙ mask_m)·c_kv + b_v,j,   then o_proj              (W_uv applied after the sum)
 * </pre>
 * The key bias is left out of the decode scores: it adds q_nope·b_k,nope to every logit of a query alike, which
 * softmax cancels. W_uv is applied per head to the attention-weighted latent instead of being multiplied into
 * o_proj's weight, which would make o_proj n_h·rank/(n_kv·d_h) times larger (same product, fewer bytes per step);
 * likewise W_uk is applied to q_nope per step rather than folded into W_q. Both modalities' queries (and both
 * modality-masked probability rows) are stacked into one matmul with c_kv, so the latent cache is read twice per
 * step (scores, values) whatever the number of modalities. Each token's score is Σ_m weight_m(t)·score_m(t) with
 * the 0/1 weights [1 − modality; modality]: the compute of the latent products doubles with decoupled factors,
 * the bytes read do not.
 */
public final class MlaAttention implements DecoderAttention {

    /** Suffixes of the per-modality weights, in modality order (0 = text, 1 = visual). */
    public static final String[] MODALITIES = {".text", ".visual"};

    private final SameDiff sd;
    private final int nH;
    private final int nKv;
    private final int dH;
    private final int dR;
    private final int dNope;
    private final int rank;
    private final boolean decoupled;
    private final Linear qProj;
    private final Linear kRopeProj;
    private final Linear[] kvDown;
    private final Linear[] kUp;
    private final Linear[] vUp;
    private final SDVariable kNopeBias;
    private final SDVariable vBias;
    private final Linear oProj;
    private final SDVariable selectQ;
    private final SDVariable selectK;

    /**
     * @param key       module prefix, e.g. {@code model.layers.0.self_attn}
     * @param selection the kept RoPE pairs of every layer; {@code layer} picks this one's
     * @param dKv       latent dims per KV head (rank = n_kv·d_kv)
     * @param decoupled per-modality factors (MD-SVD) rather than one shared pair
     */
    public MlaAttention(SameDiff sd, TextConfig config, String key, RopeSelection selection, int layer, int dKv, boolean decoupled) {
        this.sd = sd;
        this.nH = config.numAttentionHeads();
        this.nKv = config.numKeyValueHeads();
        this.dH = config.headDim();
        if (selection.kvHeads() != nKv || selection.headDim() != dH) {
            throw new IllegalArgumentException(key + ": RoPE selection " + selection + " does not fit n_kv = " + nKv + ", d_h = " + dH);
        }
        this.dR = selection.ropeDim();
        this.dNope = dH - dR;
        this.rank = nKv * dKv;
        this.decoupled = decoupled;
        long d = config.hiddenSize();
        boolean bias = config.attentionBias();
        this.qProj = Linear.of(sd, key + ".q_proj", d, (long) nH * dH, bias);
        this.kRopeProj = Linear.of(sd, key + ".k_rope_proj", d, (long) nKv * dR, bias);
        String[] suffixes = decoupled ? MODALITIES : new String[]{""};
        this.kvDown = new Linear[suffixes.length];
        this.kUp = new Linear[suffixes.length];
        this.vUp = new Linear[suffixes.length];
        for (int m = 0; m < suffixes.length; m++) {
            kvDown[m] = Linear.of(sd, key + ".kv_down_proj" + suffixes[m], d, rank, false);
            kUp[m] = dNope == 0 ? null : Linear.of(sd, key + ".k_up_proj" + suffixes[m], rank, (long) nKv * dNope, false);
            vUp[m] = Linear.of(sd, key + ".v_up_proj" + suffixes[m], rank, (long) nKv * dH, false);
        }
        this.kNopeBias = bias && dNope > 0 ? Params.get(sd, key + ".k_nope_bias", (long) nKv * dNope) : null;
        this.vBias = bias ? Params.get(sd, key + ".v_bias", (long) nKv * dH) : null;
        this.oProj = Linear.withOptionalBias(sd, key + ".o_proj", (long) nH * dH, d);
        this.selectQ = sd.constant(key + "/rope_select_q", selection(selection, layer, nH));
        this.selectK = sd.constant(key + "/rope_select_k", selection(selection, layer, nKv));
    }

    /** [heads·d_r, d_h]: row h·d_r + i picks dim ropeDims(layer, KV head of h)[i] (a constant gather as a matmul). */
    private INDArray selection(RopeSelection s, int layer, int heads) {
        int group = heads / nKv;
        float[] m = new float[heads * dR * dH];
        for (int h = 0; h < heads; h++) {
            int[] dims = s.ropeDims(layer, h / group);
            for (int i = 0; i < dR; i++) m[(h * dR + i) * dH + dims[i]] = 1f;
        }
        return Nd4j.create(m, new long[]{(long) heads * dR, dH}, DataType.FLOAT);
    }

    @Override
    public List<CacheTensor> cacheTensors() {
        List<CacheTensor> c = new ArrayList<>();
        c.add(new CacheTensor("c_kv", new long[]{-1, 1, -1, rank}, 2));
        c.add(new CacheTensor("k_rope", new long[]{-1, nKv, -1, dR}, 2));
        if (decoupled) c.add(new CacheTensor("modality", new long[]{-1, 1, -1, 1}, 2));
        return c;
    }

    public int rank() {
        return rank;
    }

    public boolean decoupled() {
        return decoupled;
    }

    @Override
    public Result build(String scope, SDVariable x, SDVariable cos, SDVariable sin, SDVariable mask, SDVariable modality,
                        List<SDVariable> past) {
        // B and L are read once: the decode step is a few hundred small ops, and each costs a thread-pool round trip.
        SDVariable xShape = x.shape();
        Dims dims = new Dims(sd.slice(xShape, new int[]{0}, 1), sd.slice(xShape, new int[]{1}, 1));
        // RoPE tables of the kept dims: [B|1, n_h, L, d_r] for the queries, [B|1, n_kv, L, d_r] for the keys.
        SDVariable cosQ = dims.tables(cos, selectQ, nH);
        SDVariable sinQ = dims.tables(sin, selectQ, nH);
        SDVariable cosK = dims.tables(cos, selectK, nKv);
        SDVariable sinK = dims.tables(sin, selectK, nKv);

        SDVariable q = dims.heads(dims.linear(x, qProj), nH, dH);
        SDVariable qRope = RotaryEmbedding.apply(sd, scope + "/q_rope", dNope == 0 ? q : lastAxis(q, 0, dR), cosQ, sinQ);
        SDVariable qNope = dNope == 0 ? null : lastAxis(q, dR, dH);
        SDVariable kRope = RotaryEmbedding.apply(sd, scope + "/k_rope", dims.heads(dims.linear(x, kRopeProj), nKv, dR), cosK, sinK);

        SDVariable mod = decoupled ? sd.reshape(modality, dims.lead(1)) : null;                         // [B, L, 1]
        SDVariable c = blend(dims.linear(x, kvDown[0]), decoupled ? dims.linear(x, kvDown[1]) : null, mod);   // [B, L, rank]
        SDVariable cacheC = sd.reshape(c, dims.cache(rank));                                             // [B, 1, L, rank]
        SDVariable cacheMod = decoupled ? sd.reshape(modality, dims.cache(1)) : null;                    // [B, 1, L, 1]
        List<SDVariable> present = new ArrayList<>();
        if (past == null) {
            present.add(cacheC);
            present.add(kRope);
            if (decoupled) present.add(cacheMod);
            Heads.Attention a = prefill(scope, dims, c, mod, qRope, qNope, kRope, mask);
            SDVariable attn = Heads.merge(sd, scope + "/attn", a.output(), nH, dH);
            return new Result(oProj.forward(scope + "/o_proj", attn), present, a.probs());
        }
        SDVariable cAll = sd.concat(scope + "/c_kv_cat", 2, past.get(0), cacheC);
        SDVariable kRopeAll = sd.concat(scope + "/k_rope_cat", 2, past.get(1), kRope);
        SDVariable modAll = decoupled ? sd.concat(scope + "/modality_cat", 2, past.get(2), cacheMod) : null;
        present.add(cAll);
        present.add(kRopeAll);
        if (decoupled) present.add(modAll);
        Heads.Attention a = absorbedDecode(scope, dims, qRope, qNope, cAll, kRopeAll, modAll, mask);
        SDVariable attn = sd.reshape(sd.permute(a.output(), 0, 2, 1, 3), dims.lead((long) nH * dH));   // [B, L, n_h·d_h]
        return new Result(oProj.forward(scope + "/o_proj", attn), present, a.probs());
    }

    /** The training graph: K and V materialised from the latent, then plain grouped attention. */
    private Heads.Attention prefill(String scope, Dims dims, SDVariable c, SDVariable mod, SDVariable qRope, SDVariable qNope,
                                    SDVariable kRope, SDVariable mask) {
        SDVariable v = blend(dims.linear(c, vUp[0]), decoupled ? dims.linear(c, vUp[1]) : null, mod);
        if (vBias != null) v = v.add(vBias);
        v = dims.heads(v, nKv, dH);
        SDVariable q = qRope;
        SDVariable k = kRope;
        if (dNope > 0) {
            SDVariable kNope = blend(dims.linear(c, kUp[0]), decoupled ? dims.linear(c, kUp[1]) : null, mod);
            if (kNopeBias != null) kNope = kNope.add(kNopeBias);
            kNope = dims.heads(kNope, nKv, dNope);
            q = sd.concat(scope + "/q_full", -1, qRope, qNope);
            k = sd.concat(scope + "/k_full", -1, kRope, kNope);
        }
        return Heads.groupedAttention(sd, scope, q, k, v, mask, nKv, nH / nKv, dH, dH);
    }

    /**
     * Decode over the latent cache: q_lat[m] = q_nope·W_uk[m]_j per KV group, scores against c_kv, the attention-
     * weighted latent of each modality through W_uv[m]_j. c [B, 1, T, rank], kRope [B, n_kv, T, d_r], mod [B, 1, T, 1].
     */
    private Heads.Attention absorbedDecode(String scope, Dims dims, SDVariable qRope, SDVariable qNope, SDVariable c,
                                           SDVariable kRope, SDVariable mod, SDVariable mask) {
        int g = nH / nKv;
        SDVariable batch = dims.batch;
        SDVariable keys = sd.slice(c.shape(), new int[]{2}, 1);
        SDVariable qg = sd.reshape(qRope, shape(batch, nKv, -1, dR));                                  // [B, n_kv, g·L, d_r]
        SDVariable scores = sd.mmul(qg, kRope, false, true, false);                                      // [B, n_kv, g·L, T]
        // Per cached token, the weight of each modality's factors: [B, M, 1, T] = [1 − mod ; mod] (M = 2), or none.
        SDVariable modRow = decoupled ? sd.permute(mod, 0, 1, 3, 2) : null;                              // [B, 1, 1, T]
        SDVariable perModality = decoupled ? sd.concat(1, modRow.rsub(1.0), modRow) : null;              // [B, 2, 1, T]
        int modalities = decoupled ? 2 : 1;
        if (dNope > 0) {
            SDVariable qNopeG = sd.reshape(qNope, shape(batch, nKv, -1, dNope));                          // [B, n_kv, g·L, d_nope]
            SDVariable[] qLat = new SDVariable[modalities];
            for (int m = 0; m < modalities; m++) {
                SDVariable wUk = sd.reshape(kUp[m].weight(), nKv, dNope, rank);
                qLat[m] = sd.reshape(perHeadGroup(qNopeG, wUk, batch, nKv, dNope, rank, false), shape(batch, 1, -1, rank)); // [B, 1, n_h·L, rank]
            }
            // Both modalities' queries in one matmul: c_kv, the large operand, is read once per step.
            SDVariable both = decoupled ? sd.concat(2, qLat[0], qLat[1]) : qLat[0];                   // [B, 1, M·n_h·L, rank]
            SDVariable lat = sd.mmul(both, c, false, true, false);                                        // [B, 1, M·n_h·L, T]
            if (decoupled) {
                // each token's score from its own modality's query: Σ_m weight_m(t)·score_m(t)
                lat = sd.sum(sd.reshape(lat, sd.concat(0, batch, longs(2, -1), keys)).mul(perModality), true, 1);
            }
            scores = scores.add(sd.reshape(lat, sd.concat(0, batch, longs(nKv, -1), keys)));
        }
        scores = scores.mul(1.0 / Math.sqrt(dH));
        SDVariable perGroup = sd.reshape(scores, sd.concat(0, batch, longs(nKv, g), dims.length, keys)); // [B, n_kv, g, L, T]
        SDVariable mask5 = sd.reshape(mask, sd.concat(0, batch, longs(1, 1), dims.length, keys));       // [B, 1, 1, L, T]
        SDVariable probs = sd.nn().softmax(scope + "/probs", perGroup.add(mask5), -1);
        SDVariable flatProbs = sd.reshape(probs, sd.concat(0, batch, longs(1, -1), keys));              // [B, 1, n_h·L, T]
        // Σ_t p_t·weight_m(t)·c_t of both modalities in one matmul, then each through its own W_uv[m] per KV head,
        // as one batched matmul over (modality, KV head).
        SDVariable weighted = decoupled ? sd.reshape(flatProbs.mul(perModality), sd.concat(0, batch, longs(1, -1), keys)) : flatProbs;
        SDVariable oLat = sd.reshape(sd.mmul(weighted, c), shape(batch, (long) modalities * nKv, -1, rank)); // [B, M·n_kv, g·L, rank]
        SDVariable wUv = decoupled
                ? sd.concat(0, sd.reshape(vUp[0].weight(), nKv, dH, rank), sd.reshape(vUp[1].weight(), nKv, dH, rank))
                : sd.reshape(vUp[0].weight(), nKv, dH, rank);                                            // [M·n_kv, d_h, rank]
        SDVariable out = perHeadGroup(oLat, wUv, batch, modalities * nKv, rank, dH, true);              // [B, M·n_kv, g·L, d_h]
        if (decoupled) out = sd.sum(sd.reshape(out, shape(batch, 2, nKv, -1, dH)), false, 1);          // [B, n_kv, g·L, d_h]
        if (vBias != null) out = out.add(sd.reshape(vBias, 1, nKv, 1, dH));
        SDVariable heads = sd.concat(0, batch, longs(nH), dims.length);
        return new Heads.Attention(sd.reshape(out, sd.concat(0, heads, longs(dH))), sd.reshape(probs, sd.concat(0, heads, keys)));
    }

    /**
     * x [B, G, R, in] times group g's own matrix of w [G, in, out] (or of wᵀ for w [G, out, in] when
     * {@code transposeW}): [B, G, R, out], as one batched matmul over the groups (KV heads, or modality × KV head).
     */
    private SDVariable perHeadGroup(SDVariable x, SDVariable w, SDVariable batch, long groups, long in, long out, boolean transposeW) {
        SDVariable byGroup = sd.reshape(sd.permute(x, 1, 0, 2, 3), groups, -1, in);                      // [G, B·R, in]
        SDVariable y = sd.mmul(byGroup, w, false, transposeW, false);                                     // [G, B·R, out]
        return sd.permute(sd.reshape(y, sd.concat(0, longs(groups), batch, longs(-1, out))), 1, 0, 2, 3);
    }

    /** Shape vectors of one pass, built on the batch B and length L read once from x. */
    private final class Dims {
        final SDVariable batch;
        final SDVariable length;
        final SDVariable bl;

        Dims(SDVariable batch, SDVariable length) {
            this.batch = batch;
            this.length = length;
            this.bl = sd.concat(0, batch, length);
        }

        /** [B, L, width]. */
        SDVariable lead(long width) {
            return sd.concat(0, bl, longs(width));
        }

        /** [B, 1, L, width]: a cache tensor of this pass's tokens. */
        SDVariable cache(long width) {
            return sd.concat(0, batch, longs(1), length, longs(width));
        }

        /** torch.nn.Linear over x [B, L, in] (flatten, {@link LinearMatmul}, restore), weight [out, in], optional bias. */
        SDVariable linear(SDVariable x, Linear layer) {
            SDVariable y = sd.reshape(LinearMatmul.apply(sd, sd.reshape(x, -1, layer.in()), layer.weight()), lead(layer.out()));
            return layer.bias() == null ? y : y.add(layer.bias());
        }

        /** [B, L, n·d] → [B, n, L, d]. */
        SDVariable heads(SDVariable x, long n, long d) {
            return sd.permute(sd.reshape(x, sd.concat(0, bl, longs(n, d))), 0, 2, 1, 3);
        }

        /** The kept dims of a [B|1, 1, L, d_h] table per head through a selection [heads·d_r, d_h]: [B|1, heads, L, d_r]. */
        SDVariable tables(SDVariable table, SDVariable selection, long heads) {
            SDVariable picked = sd.mmul(sd.reshape(table, -1, dH), selection, false, true, false);         // [B|1·L, heads·d_r]
            return sd.permute(sd.reshape(picked, sd.concat(0, longs(-1), length, longs(heads, dR))), 0, 2, 1, 3);
        }
    }

    /** a·(1 − m) + b·m for m ∈ {0, 1} per token; a alone when there is one modality. */
    private static SDVariable blend(SDVariable text, SDVariable visual, SDVariable mod) {
        return visual == null ? text : text.add(visual.sub(text).mul(mod));
    }

    /** x[..., from:to] on the last axis of a rank-4 tensor. */
    private SDVariable lastAxis(SDVariable x, int from, int to) {
        return sd.stridedSlice(x, new long[]{0, 0, 0, from}, new long[]{0, 0, 0, to}, new long[]{1, 1, 1, 1},
                0b0111, 0b0111, 0, 0, 0);
    }

    private SDVariable shape(SDVariable batch, long... rest) {
        return sd.concat(0, batch, longs(rest));
    }

    private SDVariable longs(long... v) {
        return sd.constant(Nd4j.createFromArray(v));
    }
}
