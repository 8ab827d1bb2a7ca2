package org.mha2mla.core.mla;

import java.util.Arrays;

import org.mha2mla.core.linalg.LinearAlgebra;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.svd.LowRankFactors;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The MLA weights of one decoder layer, built from its GQA projections, its kept RoPE pairs and the low-rank
 * factors of W = [W_k,nope; W_v] (names and shapes as in ARCHITECTURE.md; float64). Per KV head j with rope dims R_j
 * ({@link RopeSelection#ropeDims}: pair i of the d_r-wide k_rope is dims {i, i + r}) and NoPE dims N_j (ascending):
 * <pre>
 *   q_proj      [n_h·d_h, d]       rows of query head h reordered to [R_j ; N_j] (j = h / group): q splits by
 *                                  slicing into q_rope (d_r) and q_nope (d_h − d_r); q·k is unchanged, both sides
 *                                  being permuted alike
 *   k_rope_proj [n_kv·d_r, d]      rows R_j of W_k (RoPE applied after, on the kept frequencies)
 *   per modality m: kv_down [rank, d], k_up [n_kv·(d_h − d_r), rank], v_up [n_kv·d_h, rank]   (rank = n_kv·d_kv)
 *   k_nope_bias [n_kv·(d_h − d_r)] = b_k at N_j, v_bias [n_kv·d_h] = b_v: biases stay on the up side
 * </pre>
 * o_proj is unchanged. Absorption (decode reads the latent cache directly) is plain associativity:
 * q_nope·k_nope = q_nope·(W_uk[m]_j c) = (W_uk[m]_jᵀ q_nope)·c and Σ_t p_t W_uv[m]_j c_t = W_uv[m]_j (Σ_t p_t c_t);
 * {@link #absorbedQuery} and {@link #absorbedOutput} fold the two up-projections into W_q and W_o. The key bias
 * adds q_nope·b_k,nope to every logit of a query alike, which softmax cancels, so absorbed scores omit it; the value
 * bias passes through (Σ_t p_t = 1).
 *
 * @param text   the text factors, or the shared ones when not decoupled
 * @param visual the visual factors, or null when one factor pair serves both modalities (joint / weight SVD)
 */
public record MlaWeights(INDArray qProj, INDArray qBias, INDArray kRopeProj, INDArray kRopeBias,
                         LatentProjections text, LatentProjections visual, INDArray kNopeBias, INDArray vBias,
                         int numHeads, int kvHeads, int headDim, int ropeDim) {

    public MlaWeights {
        if (visual != null && visual.rank() != text.rank()) {
            throw new IllegalArgumentException("text latent rank " + text.rank() + " differs from visual " + visual.rank());
        }
        int nope = headDim - ropeDim;
        GqaLayerWeights.requireShape(qProj, "q_proj.weight", (long) numHeads * headDim, qProj.columns());
        GqaLayerWeights.requireShape(kRopeProj, "k_rope_proj.weight", (long) kvHeads * ropeDim, qProj.columns());
        for (LatentProjections p : visual == null ? new LatentProjections[] {text} : new LatentProjections[] {text, visual}) {
            GqaLayerWeights.requireShape(p.kvDown(), "kv_down_proj.weight", p.rank(), qProj.columns());
            if (nope > 0) GqaLayerWeights.requireShape(p.kUp(), "k_up_proj.weight", (long) kvHeads * nope, p.rank());
            else if (p.kUp() != null) throw new IllegalArgumentException("k_up_proj given although d_r = d_h leaves no NoPE dims");
            GqaLayerWeights.requireShape(p.vUp(), "v_up_proj.weight", (long) kvHeads * headDim, p.rank());
        }
    }

    /**
     * W = [W_k at the NoPE dims of every KV head; W_v], [n_kv·(d_h − d_r) + n_kv·d_h, d] in W_v's precision (float32
     * as layers are loaded: the factorisations widen what they need, and a float64 copy of LLaVA-1.5-7B's 7,168 × 4,096
     * cost 2 s per layer to make): the matrix the latent factorises (its first n_kv·(d_h − d_r) rows become k_up, the
     * rest v_up).
     */
    public static INDArray kvWeight(GqaLayerWeights gqa, RopeSelection selection, int layer) {
        checkSelection(gqa, selection, layer);
        INDArray v = gqa.vProj().dup();
        if (selection.ropeDim() == gqa.headDim()) return v;
        int[] nope = headRows(selection, layer, gqa.kvHeads(), gqa.headDim(), false);
        INDArray kNope = nope.length == 0 ? Nd4j.create(v.dataType(), 0, v.columns())
                : Nd4j.pullRows(gqa.kProj().castTo(v.dataType()), 1, nope);
        return Nd4j.vstack(kNope, v);
    }

    /**
     * The MLA layer from its GQA weights, selection and the factors of {@link #kvWeight}.
     *
     * @param visual the visual factors (MD-SVD), or null for one shared factor pair (joint or weight SVD)
     */
    public static MlaWeights build(GqaLayerWeights gqa, RopeSelection selection, int layer, LowRankFactors text,
                                   LowRankFactors visual) {
        checkSelection(gqa, selection, layer);
        int nKv = gqa.kvHeads();
        int dH = gqa.headDim();
        int dR = selection.ropeDim();
        int nopeRows = nKv * (dH - dR);
        int rows = nopeRows + nKv * dH;
        INDArray k = LinearAlgebra.toDouble(gqa.kProj());
        int[] ropeRows = headRows(selection, layer, nKv, dH, true);
        int[] nopeRowIdx = headRows(selection, layer, nKv, dH, false);
        int[] qRows = new int[gqa.numHeads() * dH];
        for (int h = 0; h < gqa.numHeads(); h++) {
            int j = h / gqa.groupSize();
            int[] rope = selection.ropeDims(layer, j);
            int[] nope = selection.nopeDims(layer, j);
            for (int i = 0; i < dR; i++) qRows[h * dH + i] = h * dH + rope[i];
            for (int i = 0; i < nope.length; i++) qRows[h * dH + dR + i] = h * dH + nope[i];
        }
        return new MlaWeights(
                rows(LinearAlgebra.toDouble(gqa.qProj()), qRows), entries(gqa.qBias(), qRows),
                rows(k, ropeRows), entries(gqa.kBias(), ropeRows),
                latent(text, nopeRows, rows, gqa.hiddenSize(), "text"),
                visual == null ? null : latent(visual, nopeRows, rows, gqa.hiddenSize(), "visual"),
                nopeRows == 0 ? null : entries(gqa.kBias(), nopeRowIdx),
                gqa.vBias() == null ? null : LinearAlgebra.toDouble(gqa.vBias()).reshape(-1).dup(),
                gqa.numHeads(), nKv, dH, dR);
    }

    /** d_h − d_r. */
    public int nopeDim() {
        return headDim - ropeDim;
    }

    /** Latent size n_kv·d_kv. */
    public int rank() {
        return text.rank();
    }

    /** Hidden size d. */
    public int hiddenSize() {
        return (int) qProj.columns();
    }

    /** Query heads per KV head. */
    public int groupSize() {
        return numHeads / kvHeads;
    }

    /** One factor pair per modality (MD-SVD). */
    public boolean decoupled() {
        return visual != null;
    }

    /** The projections a token of this modality uses. */
    public LatentProjections latent(boolean visualToken) {
        return visualToken && visual != null ? visual : text;
    }

    /** W_uk[m] per KV head, [n_kv, d_h − d_r, rank]. */
    public INDArray keyUpPerKvHead(boolean visualToken) {
        requireNope();
        return latent(visualToken).kUp().reshape('c', kvHeads, nopeDim(), rank());
    }

    /** W_uv[m] per KV head, [n_kv, d_h, rank]. */
    public INDArray valueUpPerKvHead(boolean visualToken) {
        return latent(visualToken).vUp().reshape('c', kvHeads, headDim, rank());
    }

    /**
     * W_uk[m] folded into the query side: [n_h·rank, d] whose rows h·rank … give q_lat,h = W_uk[m]_jᵀ·q_nope,h
     * straight from x (without its bias, see {@link #absorbedQueryBias}), so that q_nope,h·k_nope,t = q_lat,h·c_t
     * up to the key bias softmax cancels.
     */
    public INDArray absorbedQuery(boolean visualToken) {
        requireNope();
        INDArray up = keyUpPerKvHead(visualToken);
        INDArray[] blocks = new INDArray[numHeads];
        for (int h = 0; h < numHeads; h++) {
            INDArray wqNope = qProj.get(NDArrayIndex.interval((long) h * headDim + ropeDim, (long) (h + 1) * headDim), NDArrayIndex.all());
            blocks[h] = up.slice(h / groupSize()).transpose().mmul(wqNope); // [rank, d]
        }
        return Nd4j.vstack(blocks);
    }

    /** The bias of {@link #absorbedQuery}: W_uk[m]_jᵀ·b_q,nope,h per head, [n_h·rank]; null without q bias. */
    public INDArray absorbedQueryBias(boolean visualToken) {
        if (qBias == null) return null;
        requireNope();
        INDArray up = keyUpPerKvHead(visualToken);
        INDArray out = Nd4j.create(DataType.DOUBLE, (long) numHeads * rank());
        for (int h = 0; h < numHeads; h++) {
            INDArray bNope = qBias.get(NDArrayIndex.interval((long) h * headDim + ropeDim, (long) (h + 1) * headDim)).reshape(1, -1);
            out.get(NDArrayIndex.interval((long) h * rank(), (long) (h + 1) * rank())).assign(bNope.mmul(up.slice(h / groupSize())).reshape(-1));
        }
        return out;
    }

    /**
     * W_uv[m] folded into o_proj: [d, n_h·rank] acting on the per-head attention-weighted latents
     * o_lat,h = Σ_t p_{h,t} c_t (of the tokens of modality m), i.e. W_o · blockdiag_h(W_uv[m]_j).
     *
     * @param oProj the layer's o_proj.weight [d, n_h·d_h]
     */
    public INDArray absorbedOutput(INDArray oProj, boolean visualToken) {
        GqaLayerWeights.requireShape(oProj, "o_proj.weight", hiddenSize(), (long) numHeads * headDim);
        INDArray o = LinearAlgebra.toDouble(oProj);
        INDArray up = valueUpPerKvHead(visualToken);
        INDArray[] blocks = new INDArray[numHeads];
        for (int h = 0; h < numHeads; h++) {
            INDArray oHead = o.get(NDArrayIndex.all(), NDArrayIndex.interval((long) h * headDim, (long) (h + 1) * headDim));
            blocks[h] = oHead.mmul(up.slice(h / groupSize())); // [d, rank]
        }
        return Nd4j.hstack(blocks);
    }

    // ---------------------------------------------------------------------------------------------

    private void requireNope() {
        if (nopeDim() == 0) throw new IllegalStateException("d_r = d_h: this layer has no NoPE dims, hence no k_up to absorb");
    }

    private static LatentProjections latent(LowRankFactors f, int nopeRows, int rows, int d, String name) {
        if (f.wUp().rows() != rows || f.wDown().columns() != d || f.wUp().columns() != f.wDown().rows()) {
            throw new IllegalArgumentException(name + " factors W_up " + Arrays.toString(f.wUp().shape()) + " / W_down "
                    + Arrays.toString(f.wDown().shape()) + " do not factorise [W_k,nope; W_v] of shape [" + rows + ", " + d + "]");
        }
        INDArray up = LinearAlgebra.toDouble(f.wUp());
        INDArray kUp = nopeRows == 0 ? null : up.get(NDArrayIndex.interval(0, nopeRows), NDArrayIndex.all()).dup();
        INDArray vUp = up.get(NDArrayIndex.interval(nopeRows, rows), NDArrayIndex.all()).dup();
        return new LatentProjections(LinearAlgebra.toDouble(f.wDown()).dup(), kUp, vUp);
    }

    /** Row indices into W_k of every KV head's rope dims (ropeDims order) or NoPE dims (ascending). */
    private static int[] headRows(RopeSelection s, int layer, int kvHeads, int headDim, boolean rope) {
        int per = rope ? s.ropeDim() : headDim - s.ropeDim();
        int[] out = new int[kvHeads * per];
        for (int j = 0; j < kvHeads; j++) {
            int[] dims = rope ? s.ropeDims(layer, j) : s.nopeDims(layer, j);
            for (int i = 0; i < per; i++) out[j * per + i] = j * headDim + dims[i];
        }
        return out;
    }

    private static INDArray rows(INDArray a, int[] idx) {
        if (idx.length == 0) return Nd4j.create(DataType.DOUBLE, 0, a.columns());
        return Nd4j.pullRows(a, 1, idx).castTo(DataType.DOUBLE);
    }

    private static INDArray entries(INDArray vector, int[] idx) {
        if (vector == null) return null;
        double[] v = LinearAlgebra.toDouble(vector).reshape(-1).toDoubleVector();
        double[] out = new double[idx.length];
        for (int i = 0; i < idx.length; i++) out[i] = v[idx[i]];
        return Nd4j.createFromArray(out);
    }

    private static void checkSelection(GqaLayerWeights gqa, RopeSelection s, int layer) {
        if (s.kvHeads() != gqa.kvHeads() || s.headDim() != gqa.headDim() || layer < 0 || layer >= s.layers()) {
            throw new IllegalArgumentException("RoPE selection " + s + " does not fit layer " + layer + " with n_kv = "
                    + gqa.kvHeads() + ", d_h = " + gqa.headDim());
        }
    }
}
