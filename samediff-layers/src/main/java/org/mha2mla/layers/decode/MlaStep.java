package org.mha2mla.layers.decode;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.tensor.Kernels;
import org.mha2mla.core.tensor.Parallel;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.layers.mla.MlaAttention;

/**
 * The absorbed decode step of {@link MlaAttention} (weights and cache as its javadoc tables them): the new token's
 * q (heads ordered [d_r rope dims ; d_h − d_r NoPE dims]), k_rope and latent c = x·W_dkv[m]ᵀ for its modality m,
 * RoPE on q_rope and k_rope with the angles of each KV head's kept dims, c / k_rope / m written into the latent
 * cache; then, never materialising K or V, for query head h of KV head j:
 * <pre>
 *   q_lat[m]_h = q_nope,h · W_uk[m]_j                          (W_uk folded into the query, per modality)
 *   score_h(t) = (q_rope,h · k_rope,j(t) + q_lat[m(t)]_h · c(t)) / √d_h
 *   o_lat[m]_h = Σ_{t: m(t) = m} softmax(score_h)(t) · c(t)     (the attention-weighted latent, per modality)
 *   out_h      = Σ_m W_uv[m]_j · o_lat[m]_h + b_v,j,   then o_proj
 * </pre>
 * Each cached token uses its own modality's factors (as the full pass does), chosen per run of equal modality within
 * a tile, so the latent products cost what one modality would. The key bias is left out (it adds q_nope·b_k,nope to
 * every score of a query alike, which softmax cancels). W_uk and W_uv stay apart from W_q and o_proj (folding them
 * in would make those n_h·rank/(n_kv·d_h) times larger); they are widened from their stored precision once per step.
 * The latent is shared by all heads, so every head's scores and weighted sums read the same c rows: per tile these
 * are small matrix products (heads × rank against slots × rank) done with register blocking by {@link Kernels}.
 */
final class MlaStep implements AttentionStep, CachedAttention.Tiles {

    private static final int C_KV = 0;
    private static final int K_ROPE = 1;
    private static final int MODALITY = 2;
    /** Modality runs in a tile above which both modalities' latent products are formed whole. */
    private static final int MAX_RUNS = 4;

    private final int nH;
    private final int nKv;
    private final int dH;
    private final int dR;
    private final int dNope;
    private final int rank;
    private final int group;
    private final int modalities;
    private final float scale;
    private final StoredTensor qProj;
    private final StoredTensor kRopeProj;
    private final StoredTensor oProj;
    private final StoredTensor[] kvDown;
    private final StoredTensor[] kUp;
    private final StoredTensor[] vUp;
    private final float[] qBias;
    private final float[] kRopeBias;
    private final float[] vBias;
    private final float[] oBias;
    /** Per KV head, the table dims of its d_r rotated dims (pair i = {i, i + d_r/2} takes dims[i], dims[i + d_r/2]). */
    private final int[][] ropeDims;
    private final CachedAttention attention;
    private final Kernels k = Kernels.get();
    private float[] q;
    private float[] kRope;
    private float[][] latent;
    private float[] latentRows;
    private float[][] kUpW;
    private float[][] vUpW;
    private float[] qLat;
    /** q_lat / √d_h transposed for the scores ({@link Kernels#transposeForDots}), [B][M][rank][qLatStride]. */
    private float[] qLatT;
    private int qLatStride;
    private float[] oLat;
    private float[] heads;
    private final float[] modalityRow = new float[1];
    /** q_rope / √d_h after RoPE of each KV head's group, transposed for the scores, [B][n_kv][d_r][qRopeStride]. */
    private float[] qRopeT;
    private int qRopeStride;
    private StaticCache cache;
    private int layer;

    /**
     * @param key       module prefix, e.g. {@code model.layers.0.self_attn}
     * @param selection the kept RoPE pairs of every layer; {@code layerIndex} picks this one's
     * @param dKv       latent dims per KV head (rank = n_kv·d_kv)
     * @param decoupled per-modality factors (MD-SVD)
     */
    MlaStep(LayerWeights w, TextConfig config, String key, RopeSelection selection, int layerIndex, int dKv, boolean decoupled) {
        this.nH = config.numAttentionHeads();
        this.nKv = config.numKeyValueHeads();
        this.dH = config.headDim();
        this.dR = selection.ropeDim();
        this.dNope = dH - dR;
        this.rank = nKv * dKv;
        this.group = nH / nKv;
        this.modalities = decoupled ? 2 : 1;
        this.scale = (float) (1.0 / Math.sqrt(dH));
        long d = config.hiddenSize();
        boolean bias = config.attentionBias();
        this.qProj = w.matrix(key + ".q_proj.weight", (long) nH * dH, d);
        this.kRopeProj = w.matrix(key + ".k_rope_proj.weight", (long) nKv * dR, d);
        this.oProj = w.matrix(key + ".o_proj.weight", d, (long) nH * dH);
        this.qBias = bias ? w.vector(key + ".q_proj.bias", (long) nH * dH) : null;
        this.kRopeBias = bias ? w.vector(key + ".k_rope_proj.bias", (long) nKv * dR) : null;
        this.vBias = bias ? w.vector(key + ".v_bias", (long) nKv * dH) : null;
        this.oBias = w.optionalVector(key + ".o_proj.bias", d);
        String[] suffixes = decoupled ? MlaAttention.MODALITIES : new String[]{""};
        this.kvDown = new StoredTensor[modalities];
        this.kUp = new StoredTensor[modalities];
        this.vUp = new StoredTensor[modalities];
        for (int m = 0; m < modalities; m++) {
            kvDown[m] = w.matrix(key + ".kv_down_proj" + suffixes[m] + ".weight", rank, d);
            kUp[m] = dNope == 0 ? null : w.matrix(key + ".k_up_proj" + suffixes[m] + ".weight", (long) nKv * dNope, rank);
            vUp[m] = w.matrix(key + ".v_up_proj" + suffixes[m] + ".weight", (long) nKv * dH, rank);
        }
        this.ropeDims = new int[nKv][];
        for (int j = 0; j < nKv; j++) ropeDims[j] = selection.ropeDims(layerIndex, j);
        this.attention = new CachedAttention(decoupled ? 3 : 2);
        this.kUpW = new float[modalities][];
        this.vUpW = new float[modalities][];
        this.latent = new float[modalities][];
    }

    @Override
    public int heads() {
        return nH;
    }

    @Override
    public int width() {
        return rank;
    }

    @Override
    public int modalities() {
        return modalities;
    }

    @Override
    public void run(float[] x, int batch, StepRope rope, float[] modality, StaticCache cache, int layer, float[] out,
                    float[] probs, int probsStride, StepProfile profile) {
        q = LayerWeights.ensure(q, batch * nH * dH);
        kRope = LayerWeights.ensure(kRope, batch * nKv * dR);
        latentRows = LayerWeights.ensure(latentRows, batch * rank);
        qLat = LayerWeights.ensure(qLat, batch * modalities * nH * rank);
        oLat = LayerWeights.ensure(oLat, batch * modalities * nH * rank);
        heads = LayerWeights.ensure(heads, batch * nH * dH);
        LayerWeights.linear(qProj, qBias, x, batch, q);
        LayerWeights.linear(kRopeProj, kRopeBias, x, batch, kRope);
        // c = x·W_dkv[m]ᵀ with each sequence's own modality: one product per modality present in the batch.
        for (int m = 0; m < modalities; m++) {
            if (!present(modality, batch, m)) continue;
            latent[m] = LayerWeights.ensure(latent[m], batch * rank);
            LayerWeights.linear(kvDown[m], null, x, batch, latent[m]);
            for (int b = 0; b < batch; b++) {
                if (modalityOf(modality, b) == m) System.arraycopy(latent[m], b * rank, latentRows, b * rank, rank);
            }
        }
        if (profile != null) profile.lap(StepProfile.Phase.QKV_PROJ);

        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < nH; h++) rope.rotate(q, (b * nH + h) * dH, dR, b, ropeDims[h / group], null);
            for (int j = 0; j < nKv; j++) rope.rotate(kRope, (b * nKv + j) * dR, dR, b, ropeDims[j], null);
        }
        for (int m = 0; m < modalities; m++) {
            if (dNope > 0) kUpW[m] = widen(kUp[m], kUpW[m]);
            vUpW[m] = widen(vUp[m], vUpW[m]);
        }
        if (dNope > 0) absorbQueries(batch);
        transposeQueries(batch);
        cache.append(layer);
        for (int b = 0; b < batch; b++) {
            cache.put(layer, C_KV, b, latentRows, b * rank);
            cache.put(layer, K_ROPE, b, kRope, b * nKv * dR);
            if (modalities == 2) {
                modalityRow[0] = modalityOf(modality, b);
                cache.put(layer, MODALITY, b, modalityRow, 0);
            }
        }
        cache.filled(layer);
        if (profile != null) profile.lap(StepProfile.Phase.ROPE_AND_CACHE_WRITE);

        this.cache = cache;
        this.layer = layer;
        attention.run(this, cache, layer, batch, oLat, probs, probsStride);
        cache.settle(layer);
        if (profile != null) profile.lap(StepProfile.Phase.ATTENTION);

        // out_h = Σ_m W_uv[m]_j · o_lat[m]_h (+ b_v): rows e of W_uv[m]_j against the group's heads, written [h][e];
        // one item per (sequence, KV head) over the cores.
        Parallel.forRange(batch * nKv, minItems(dH), (from, to) -> {
            for (int item = from; item < to; item++) {
                int b = item / nKv;
                int j = item % nKv;
                for (int m = 0; m < modalities; m++) {
                    k.dots(vUpW[m], j * dH * rank, rank, dH, oLat, ((b * modalities + m) * nH + j * group) * rank, rank, group, rank,
                            1f, m > 0, heads, (b * nH + j * group) * dH, 1, dH);
                }
            }
        });
        if (vBias != null) {
            for (int b = 0; b < batch; b++) {
                for (int h = 0; h < nH; h++) k.axpy(1f, vBias, (h / group) * dH, heads, (b * nH + h) * dH, dH);
            }
        }
        LayerWeights.linear(oProj, oBias, heads, batch, out);
        if (profile != null) profile.lap(StepProfile.Phase.O_PROJ);
    }

    /**
     * q_lat[m]_h = q_nope,h · W_uk[m]_j: the NoPE dims of the group's heads as weights over the rows of W_uk[m]_j; one
     * item per (sequence, KV head) over the cores.
     */
    private void absorbQueries(int batch) {
        java.util.Arrays.fill(qLat, 0, batch * modalities * nH * rank, 0f);
        Parallel.forRange(batch * nKv, minItems(dNope), (from, to) -> {
            for (int item = from; item < to; item++) {
                int b = item / nKv;
                int j = item % nKv;
                for (int m = 0; m < modalities; m++) {
                    k.weightedRows(q, (b * nH + j * group) * dH + dR, dH, group, kUpW[m], j * dNope * rank, rank, dNope, rank,
                            qLat, ((b * modalities + m) * nH + j * group) * rank, rank);
                }
            }
        });
    }

    /**
     * The queries the scores read, transposed ({@link Kernels#dotsTransposed}): q_lat / √d_h per (sequence, modality)
     * to [rank][heads], and each KV head's group of q_rope / √d_h to [d_r][group]. The scores then run their vectors
     * along the heads and broadcast the cached rows' elements, with no sum reduced across lanes and no transposition
     * of cached rows (benchmarks/mla-decode/README.md). The transposition, heads × (rank + d_r) moves per sequence and
     * modality, is done once per step; every tile of the cache then reads it.
     */
    private void transposeQueries(int batch) {
        if (dNope > 0) {
            qLatStride = k.transposedStride(nH);
            qLatT = LayerWeights.ensure(qLatT, batch * modalities * rank * qLatStride);
            for (int item = 0; item < batch * modalities; item++) {
                k.transposeForDots(qLat, item * nH * rank, rank, nH, rank, scale, qLatT, item * rank * qLatStride);
            }
        }
        qRopeStride = k.transposedStride(group);
        qRopeT = LayerWeights.ensure(qRopeT, batch * nKv * dR * qRopeStride);
        for (int item = 0; item < batch * nKv; item++) {
            k.transposeForDots(q, item * group * dH, dH, group, dR, scale, qRopeT, item * dR * qRopeStride);
        }
    }

    /** (sequence, KV head) items per core: at least 2¹⁵ multiply-adds each, or the split costs more than it saves. */
    private int minItems(int rowsPerHead) {
        return Math.max(1, (1 << 15) / Math.max(1, group * rowsPerHead * rank * modalities));
    }

    private static float[] widen(StoredTensor t, float[] into) {
        int n = Math.toIntExact(t.numel());
        float[] out = LayerWeights.ensure(into, n);
        t.rowsInto(0, Math.toIntExact(t.rows()), out, 0);
        return out;
    }

    private int modalityOf(float[] modality, int b) {
        return modalities == 2 && modality != null && modality[b] != 0f ? 1 : 0;
    }

    private boolean present(float[] modality, int batch, int m) {
        for (int b = 0; b < batch; b++) if (modalityOf(modality, b) == m) return true;
        return false;
    }

    /**
     * Scores of the tile: the latent part per run of slots of one modality (its own q_lat), then the rope part per KV
     * head. A tile that switches modality more than {@value #MAX_RUNS} times is scored against both q_lat whole and
     * each slot takes its own modality's score (twice the latent work, but no run of a few slots).
     */
    @Override
    public void scores(CachedAttention.Work w, int b, int from, int n, float[] s, int sStride) {
        var c = w.tile(cache, layer, C_KV, b, from, n);
        if (dNope > 0) {
            var mod = modalities == 2 ? w.tile(cache, layer, MODALITY, b, from, n) : null;
            if (mod != null && runs(mod, n) > MAX_RUNS) {
                k.dotsTransposed(qLatT, b * modalities * rank * qLatStride, nH, c.data, c.offset, c.stride, n, rank, false, s, 0, sStride, 1);
                k.dotsTransposed(qLatT, (b * modalities + 1) * rank * qLatStride, nH, c.data, c.offset, c.stride, n, rank, false, w.extra, 0, sStride, 1);
                for (int t = 0; t < n; t++) {
                    if (runModality(mod, t) == 1) {
                        for (int h = 0; h < nH; h++) s[h * sStride + t] = w.extra[h * sStride + t];
                    }
                }
            } else {
                for (int t0 = 0; t0 < n; ) {
                    int m = mod == null ? 0 : runModality(mod, t0);
                    int t1 = mod == null ? n : runEnd(mod, t0, n);
                    k.dotsTransposed(qLatT, (b * modalities + m) * rank * qLatStride, nH, c.data, c.offset + t0 * c.stride, c.stride,
                            t1 - t0, rank, false, s, t0, sStride, 1);
                    t0 = t1;
                }
            }
        }
        // The rope part, d_r dims per head: each KV head's group of transposed q_rope against its d_r columns of the
        // k_rope rows, added to the latent part.
        var kr = w.tile(cache, layer, K_ROPE, b, from, n);
        for (int j = 0; j < nKv; j++) {
            k.dotsTransposed(qRopeT, (b * nKv + j) * dR * qRopeStride, group, kr.data, kr.offset + j * dR, kr.stride, n, dR,
                    dNope > 0, s, j * group * sStride, sStride, 1);
        }
    }

    /** The probability-weighted latent rows, into the sums of each run's modality (or of each modality's slots, as above). */
    @Override
    public void values(CachedAttention.Work w, int b, int from, int n, float[] p, int pStride, float[] acc) {
        var c = w.tile(cache, layer, C_KV, b, from, n);
        var mod = modalities == 2 ? w.tile(cache, layer, MODALITY, b, from, n) : null;
        if (mod != null && runs(mod, n) > MAX_RUNS) {
            for (int m = 0; m < 2; m++) {
                for (int h = 0; h < nH; h++) {
                    for (int t = 0; t < n; t++) w.extra[h * pStride + t] = runModality(mod, t) == m ? p[h * pStride + t] : 0f;
                }
                k.weightedRows(w.extra, 0, pStride, nH, c.data, c.offset, c.stride, n, rank, acc, m * nH * rank, rank);
            }
            return;
        }
        for (int t0 = 0; t0 < n; ) {
            int m = mod == null ? 0 : runModality(mod, t0);
            int t1 = mod == null ? n : runEnd(mod, t0, n);
            k.weightedRows(p, t0, pStride, nH, c.data, c.offset + t0 * c.stride, c.stride, t1 - t0, rank, acc, m * nH * rank, rank);
            t0 = t1;
        }
    }

    /** Runs of equal modality among the tile's n slots. */
    private static int runs(CacheRows.Tile mod, int n) {
        int runs = 1;
        for (int t = 1; t < n; t++) if (runModality(mod, t) != runModality(mod, t - 1)) runs++;
        return runs;
    }

    private static int runModality(CacheRows.Tile mod, int t) {
        return mod.data[mod.offset + t * mod.stride] != 0f ? 1 : 0;
    }

    private static int runEnd(CacheRows.Tile mod, int t0, int n) {
        int m = runModality(mod, t0);
        int t = t0 + 1;
        while (t < n && runModality(mod, t) == m) t++;
        return t;
    }
}
