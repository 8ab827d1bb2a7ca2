package org.mha2mla.layers.mla;

import java.util.ArrayList;
import java.util.List;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.Heads;
import org.mha2mla.layers.text.Linear;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.RotaryEmbedding;
import org.mha2mla.layers.text.Rows;
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
 * <p><b>Prefill and training</b>: q from W_q with RoPE on its first d_r dims; k_rope from the kept rows
 * of W_k with RoPE; c_kv = x·W_dkv[m]ᵀ for each token's modality, computed for both and blended with the 0/1
 * {@code modality} placeholder (a gather would make the graph non-differentiable); k_nope = c_kv·W_uk[m]ᵀ + b,
 * v = c_kv·W_uv[m]ᵀ + b; then GQA attention over k = [k_rope ; k_nope]. The RoPE tables of the kept dims are taken
 * from the shared cos/sin placeholders by a matmul with a constant 0/1 selection matrix (again no gather).
 *
 * <p><b>Cache</b>, per token: {@code c_kv} [B, 1, T, rank] (one latent shared by all heads), {@code k_rope}
 * [B, n_kv, T, d_r] (rotated), and for decoupled factors {@code modality} [B, 1, T, 1] (1 = visual).
 *
 * <p><b>Decode</b> reads the latent cache directly, never materialising K or V (absorption; run eagerly by
 * {@code org.mha2mla.layers.decode.MlaStep}):
 * <pre>
 *   scores = (q_rope·k_ropeᵀ + (q_nope·W_uk[m(t)]_j)·c_kvᵀ) / √d_h        (W_uk folded into the query)
 *   out_h  = Σ_m W_uv[m]_j · Σ_{t: m(t) = m} probs_t·c_kv,t + b_v,j,   then o_proj   (W_uv applied after the sum)
 * </pre>
 * The key bias is left out of the decode scores: it adds q_nope·b_k,nope to every logit of a query alike, which
 * softmax cancels. W_uv is applied per head to the attention-weighted latent instead of being multiplied into
 * o_proj's weight, which would make o_proj n_h·rank/(n_kv·d_h) times larger (same product, fewer bytes per step);
 * likewise W_uk is applied to q_nope per step rather than folded into W_q. Each cached token's score uses its own
 * modality's q_lat, so per-modality factors add no bytes and no arithmetic to a step's latent products.
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
    public Result build(String scope, Queries queries, SDVariable x, SDVariable cos, SDVariable sin, SDVariable mask,
                        SDVariable modality) {
        // B and L are read once per row set: each shape op costs a thread-pool round trip.
        Dims dims = dimsOf(x);
        SDVariable[] q = queryHeads(scope, queries, queries.x() == x ? dims : dimsOf(queries.x()));
        // k_rope [B, n_kv, L, d_r], rotated through the RoPE tables of the kept dims.
        SDVariable kRope = RotaryEmbedding.apply(sd, scope + "/k_rope", dims.heads(dims.linear(x, kRopeProj), nKv, dR),
                dims.tables(cos, selectK, nKv), dims.tables(sin, selectK, nKv));

        SDVariable mod = decoupled ? sd.reshape(modality, dims.lead(1)) : null;                         // [B, L, 1]
        SDVariable c = blend(dims.linear(x, kvDown[0]), decoupled ? dims.linear(x, kvDown[1]) : null, mod);   // [B, L, rank]
        List<SDVariable> present = new ArrayList<>();
        present.add(sd.reshape(c, dims.cache(rank)));                                                    // [B, 1, L, rank]
        present.add(kRope);
        if (decoupled) present.add(sd.reshape(modality, dims.cache(1)));                                 // [B, 1, L, 1]
        return attention(scope, queries, dims, c, mod, q, kRope, mask, present);
    }

    /** The query rows over a cache of T rows: c_kv [B, 1, T, rank], k_rope [B, n_kv, T, d_r], modality [B, 1, T, 1]. */
    @Override
    public Result attend(String scope, Queries queries, List<SDVariable> present, SDVariable mask) {
        SDVariable[] q = queryHeads(scope, queries, dimsOf(queries.x()));
        SDVariable shape = present.get(0).shape();
        Dims keys = new Dims(sd.slice(shape, new int[]{0}, 1), sd.slice(shape, new int[]{2}, 1));
        SDVariable c = sd.reshape(present.get(0), keys.lead(rank));                                       // [B, T, rank]
        SDVariable mod = decoupled ? sd.reshape(present.get(2), keys.lead(1)) : null;                    // [B, T, 1]
        return attention(scope, queries, keys, c, mod, q, present.get(1), mask, present);
    }

    /**
     * The query rows' q_rope [B, n_h, L_q, d_r] (rotated, through the RoPE tables of the kept dims) and q_nope
     * [B, n_h, L_q, d_h − d_r] (null when d_r = d_h).
     */
    private SDVariable[] queryHeads(String scope, Queries queries, Dims dims) {
        SDVariable q = dims.heads(dims.linear(queries.x(), qProj), nH, dH);
        SDVariable qRope = RotaryEmbedding.apply(sd, scope + "/q_rope", dNope == 0 ? q : lastAxis(q, 0, dR),
                dims.tables(queries.cos(), selectQ, nH), dims.tables(queries.sin(), selectQ, nH));
        return new SDVariable[]{qRope, dNope == 0 ? null : lastAxis(q, dR, dH)};
    }

    /** The attention of queries {@code q} ({@link #queryHeads}) over the latent {@code c} [B, T, rank] of keys' rows, then o_proj. */
    private Result attention(String scope, Queries queries, Dims keys, SDVariable c, SDVariable mod, SDVariable[] q, SDVariable kRope, SDVariable mask,
                             List<SDVariable> present) {
        Heads.Attention a = prefill(scope, keys, c, mod, q[0], q[1], kRope, mask);
        SDVariable attn = Heads.merge(sd, scope + "/attn", a.output(), Rows.lead(sd, queries.x()), nH, dH);
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

    /** The dims of hidden states x [B, L, ·]. */
    private Dims dimsOf(SDVariable x) {
        SDVariable shape = x.shape();
        return new Dims(sd.slice(shape, new int[]{0}, 1), sd.slice(shape, new int[]{1}, 1));
    }

    /** Shape vectors of one set of rows, built on the batch B and length L read once from their hidden states. */
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

        /**
         * torch.nn.Linear over x [B, L, in], weight [out, in], optional bias: {@link Linear#forward}, so the projections
         * of one input (k_rope and both modalities' kv_down; k_up and v_up) share its rows.
         */
        SDVariable linear(SDVariable x, Linear layer) {
            return layer.forward(null, x);
        }

        /** [B, L, n·d] → [B, n, L, d]; a projection's output from its rows ({@link Heads#split}). */
        SDVariable heads(SDVariable x, int n, int d) {
            if (Rows.known(sd, x)) return Heads.split(sd, null, x, n, d);
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

    private SDVariable longs(long... v) {
        return sd.constant(Nd4j.createFromArray(v));
    }
}
