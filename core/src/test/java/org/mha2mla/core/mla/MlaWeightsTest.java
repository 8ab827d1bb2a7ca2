package org.mha2mla.core.mla;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.svd.CovarianceAccumulator;
import org.mha2mla.core.svd.LowRankFactors;
import org.mha2mla.core.svd.MdSvd;
import org.mha2mla.core.svd.ModalityCovariance;
import org.mha2mla.core.svd.ModalityFactors;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * MLA algebra of one layer against a direct computation from the GQA weights: n_h 4, n_kv 2 (group 2), d_h 8
 * (4 pairs), r = 1 kept pair per KV head (d_r 2), d = 30, with q/k/v biases.
 */
class MlaWeightsTest {

    static final int NH = 4, NKV = 2, DH = 8, D = 30, T = 40;
    static final int[][][] PAIRS = {{{2}, {0}}};   // one layer; KV head 0 keeps pair 2 (dims 2, 6), head 1 pair 0 (dims 0, 4)

    static INDArray gaussian(Random r, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian();
        return Nd4j.createFromArray(v).reshape('c', shape);
    }

    static GqaLayerWeights gqa(long seed) {
        Random r = new Random(seed);
        return new GqaLayerWeights(gaussian(r, NH * DH, D), gaussian(r, NH * DH), gaussian(r, NKV * DH, D), gaussian(r, NKV * DH),
                gaussian(r, NKV * DH, D), gaussian(r, NKV * DH), NH, NKV, DH);
    }

    /** x·Wᵀ + b for one token x [d]. */
    static INDArray project(INDArray w, INDArray b, INDArray x) {
        INDArray y = w.mmul(x.reshape(-1, 1)).reshape(-1);
        return b == null ? y : y.add(b);
    }

    static INDArray slice(INDArray v, long from, long to) {
        return v.get(NDArrayIndex.interval(from, to));
    }

    static ModalityCovariance stats(INDArray x, boolean[] visual) {
        ModalityCovariance s = new ModalityCovariance(D);
        s.add(x, visual);
        return s;
    }

    @Test
    void fullRankReproducesQueriesKeysAndValuesOfThePartialRopeLayer() {
        GqaLayerWeights g = gqa(1);
        RopeSelection sel = new RopeSelection(DH, PAIRS);
        INDArray w = MlaWeights.kvWeight(g, sel, 0);
        assertArrayEquals(new long[] {NKV * (DH - 2) + NKV * DH, D}, w.shape()); // 12 + 16 = 28 rows ≤ d = 30
        INDArray x = gaussian(new Random(2), T, D).muli(3).addi(0.5);
        boolean[] visual = new boolean[T];
        for (int t = 0; t < T; t += 3) visual[t] = true;
        ModalityFactors f = MdSvd.factorize(w, stats(x, visual), 28, 1e-12);
        MlaWeights m = MlaWeights.build(g, sel, 0, f.text(), f.visual());
        assertEquals(28, m.rank());
        assertTrue(m.decoupled());
        for (int t = 0; t < T; t++) {
            INDArray xt = x.getRow(t);
            LatentProjections p = m.latent(visual[t]);
            INDArray c = project(p.kvDown(), null, xt);
            INDArray kNope = project(p.kUp(), m.kNopeBias(), c);
            INDArray v = project(p.vUp(), m.vBias(), c);
            INDArray k = project(g.kProj(), g.kBias(), xt);
            INDArray q = project(g.qProj(), g.qBias(), xt);
            INDArray qMla = project(m.qProj(), m.qBias(), xt);
            INDArray kRope = project(m.kRopeProj(), m.kRopeBias(), xt);
            assertEquals(0, project(g.vProj(), g.vBias(), xt).sub(v).amaxNumber().doubleValue(), 1e-8, "v of token " + t);
            for (int j = 0; j < NKV; j++) {
                int[] rope = sel.ropeDims(0, j);
                int[] nope = sel.nopeDims(0, j);
                for (int i = 0; i < rope.length; i++) {
                    assertEquals(k.getDouble(j * DH + rope[i]), kRope.getDouble(j * 2 + i), 1e-10, "k_rope");
                }
                for (int i = 0; i < nope.length; i++) {
                    assertEquals(k.getDouble(j * DH + nope[i]), kNope.getDouble(j * nope.length + i), 1e-8, "k_nope token " + t);
                }
            }
            // Query head h: [rope dims of its KV head in k_rope order ; NoPE dims], so q·k is the same sum.
            for (int h = 0; h < NH; h++) {
                int j = h / 2;
                double direct = slice(q, h * DH, (h + 1) * DH).mul(slice(k, j * DH, (j + 1) * DH)).sumNumber().doubleValue();
                double viaMla = slice(qMla, h * DH, h * DH + 2).mul(slice(kRope, j * 2, j * 2 + 2)).sumNumber().doubleValue()
                        + slice(qMla, h * DH + 2, (h + 1) * DH).mul(slice(kNope, j * 6, (j + 1) * 6)).sumNumber().doubleValue();
                assertEquals(direct, viaMla, 1e-8 * (1 + Math.abs(direct)), "q·k of head " + h);
            }
        }
    }

    /**
     * Decode attention of one new token over T cached tokens of mixed modality at rank 10, two ways: materialising
     * K = [k_rope; W_uk[m]·c + b] and V = W_uv[m]·c + b (the training graph), and from the latents with W_uk folded
     * into the query ({@link MlaWeights#absorbedQuery}) and W_uv into o_proj ({@link MlaWeights#absorbedOutput}).
     */
    @Test
    void absorbedDecodeEqualsTheMaterialisedKeysAndValues() {
        GqaLayerWeights g = gqa(3);
        RopeSelection sel = new RopeSelection(DH, PAIRS);
        Random r = new Random(4);
        INDArray x = gaussian(r, T, D);
        boolean[] visual = new boolean[T];
        for (int t = 0; t < T; t++) visual[t] = t % 4 != 0;
        ModalityFactors f = MdSvd.factorize(MlaWeights.kvWeight(g, sel, 0), stats(x, visual), 10, 1e-9);
        MlaWeights m = MlaWeights.build(g, sel, 0, f.text(), f.visual());
        INDArray oProj = gaussian(r, D, NH * DH);
        INDArray xq = gaussian(r, D);
        double scale = 1 / Math.sqrt(DH);

        INDArray qMla = project(m.qProj(), m.qBias(), xq);
        INDArray[] c = new INDArray[T];
        INDArray[] kRope = new INDArray[T];
        for (int t = 0; t < T; t++) {
            c[t] = project(m.latent(visual[t]).kvDown(), null, x.getRow(t));
            kRope[t] = project(m.kRopeProj(), m.kRopeBias(), x.getRow(t));
        }
        // materialised
        INDArray attn = Nd4j.create(DataType.DOUBLE, NH * DH);
        double[][] probs = new double[NH][T];
        for (int h = 0; h < NH; h++) {
            int j = h / 2;
            double[] s = new double[T];
            INDArray[] v = new INDArray[T];
            for (int t = 0; t < T; t++) {
                LatentProjections p = m.latent(visual[t]);
                INDArray kNope = project(p.kUp(), m.kNopeBias(), c[t]);
                v[t] = slice(project(p.vUp(), m.vBias(), c[t]), j * DH, (j + 1) * DH);
                s[t] = scale * (slice(qMla, h * DH, h * DH + 2).mul(slice(kRope[t], j * 2, j * 2 + 2)).sumNumber().doubleValue()
                        + slice(qMla, h * DH + 2, (h + 1) * DH).mul(slice(kNope, j * 6, (j + 1) * 6)).sumNumber().doubleValue());
            }
            probs[h] = softmax(s);
            INDArray out = Nd4j.create(DataType.DOUBLE, DH);
            for (int t = 0; t < T; t++) out.addi(v[t].mul(probs[h][t]));
            attn.get(NDArrayIndex.interval(h * DH, (h + 1) * DH)).assign(out);
        }
        INDArray expected = oProj.mmul(attn.reshape(-1, 1)).reshape(-1);

        // absorbed: q_lat[m] straight from x, scores on the latents, o_proj·blockdiag(W_uv[m]) on Σ p·c
        INDArray[] qLat = {project(m.absorbedQuery(false), m.absorbedQueryBias(false), xq),
                project(m.absorbedQuery(true), m.absorbedQueryBias(true), xq)};
        int rank = m.rank();
        INDArray[] oLat = {Nd4j.create(DataType.DOUBLE, NH * rank), Nd4j.create(DataType.DOUBLE, NH * rank)};
        for (int h = 0; h < NH; h++) {
            int j = h / 2;
            double[] s = new double[T];
            for (int t = 0; t < T; t++) {
                int mo = visual[t] ? 1 : 0;
                s[t] = scale * (slice(qMla, h * DH, h * DH + 2).mul(slice(kRope[t], j * 2, j * 2 + 2)).sumNumber().doubleValue()
                        + slice(qLat[mo], (long) h * rank, (long) (h + 1) * rank).mul(c[t]).sumNumber().doubleValue());
            }
            double[] p = softmax(s);
            for (int t = 0; t < T; t++) {
                assertEquals(probs[h][t], p[t], 1e-12, "probability of head " + h + ", token " + t);
                oLat[visual[t] ? 1 : 0].get(NDArrayIndex.interval((long) h * rank, (long) (h + 1) * rank)).addi(c[t].mul(p[t]));
            }
        }
        INDArray vBiasThroughO = oProj.mmul(repeatPerHead(m.vBias()).reshape(-1, 1)).reshape(-1);
        INDArray actual = m.absorbedOutput(oProj, false).mmul(oLat[0].reshape(-1, 1)).reshape(-1)
                .add(m.absorbedOutput(oProj, true).mmul(oLat[1].reshape(-1, 1)).reshape(-1)).add(vBiasThroughO);
        double err = actual.sub(expected).amaxNumber().doubleValue() / expected.amaxNumber().doubleValue();
        assertTrue(err < 1e-12, "absorbed vs materialised output, relative " + err);
        assertArrayEquals(new long[] {NH * rank, D}, m.absorbedQuery(true).shape());
        assertArrayEquals(new long[] {D, NH * rank}, m.absorbedOutput(oProj, true).shape());
        assertTrue(m.absorbedQuery(true).sub(m.absorbedQuery(false)).amaxNumber().doubleValue() > 1e-3, "modalities differ");
    }

    /** v_bias of KV head j, once per query head of its group: [n_h·d_h]. */
    static INDArray repeatPerHead(INDArray vBias) {
        INDArray out = Nd4j.create(DataType.DOUBLE, NH * DH);
        for (int h = 0; h < NH; h++) out.get(NDArrayIndex.interval(h * DH, (h + 1) * DH)).assign(slice(vBias, (h / 2) * DH, (h / 2 + 1) * DH));
        return out;
    }

    static double[] softmax(double[] s) {
        double max = java.util.Arrays.stream(s).max().orElseThrow();
        double[] p = new double[s.length];
        double z = 0;
        for (int i = 0; i < s.length; i++) z += p[i] = Math.exp(s[i] - max);
        for (int i = 0; i < s.length; i++) p[i] /= z;
        return p;
    }

    @Test
    void everyPairKeptLeavesNoNopeDimsAndSharedFactorsServeBothModalities() {
        GqaLayerWeights g = gqa(5);
        RopeSelection all = RopeSelection.all(1, NKV, DH);
        INDArray w = MlaWeights.kvWeight(g, all, 0);
        assertEquals(0.0, w.sub(g.vProj()).amaxNumber().doubleValue());   // only W_v is left to factorise
        CovarianceAccumulator acc = new CovarianceAccumulator(D);
        acc.add(gaussian(new Random(6), T, D));
        LowRankFactors f = MdSvd.factorize(w, acc, NKV * DH, 1e-12);
        MlaWeights m = MlaWeights.build(g, all, 0, f, null);
        assertNull(m.text().kUp());
        assertNull(m.kNopeBias());
        assertEquals(m.text(), m.latent(true));
        assertEquals(0.0, m.kRopeProj().sub(g.kProj()).amaxNumber().doubleValue());    // ropeDims of all pairs: identity order
        assertEquals(0.0, m.qProj().sub(g.qProj()).amaxNumber().doubleValue());
        assertThrows(IllegalStateException.class, () -> m.absorbedQuery(false));
        assertTrue(Transforms.abs(m.text().vUp().mmul(m.text().kvDown()).sub(g.vProj())).maxNumber().doubleValue() < 1e-8);
    }

    @Test
    void mismatchedShapesAreRejectedWithTheTensorName() {
        Random r = new Random(7);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new GqaLayerWeights(gaussian(r, NH * DH, D), null,
                gaussian(r, NKV * DH + 1, D), null, gaussian(r, NKV * DH, D), null, NH, NKV, DH));
        assertTrue(e.getMessage().contains("k_proj.weight") && e.getMessage().contains("[17, 30]"), e.getMessage());
        GqaLayerWeights g = gqa(8);
        RopeSelection sel = new RopeSelection(DH, PAIRS);
        LowRankFactors wrong = new LowRankFactors(gaussian(r, 4, D), gaussian(r, 27, 4), 0, new double[0]);
        e = assertThrows(IllegalArgumentException.class, () -> MlaWeights.build(g, sel, 0, wrong, null));
        assertTrue(e.getMessage().contains("[28, 30]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> MlaWeights.kvWeight(g, RopeSelection.all(1, 4, DH), 0));
    }
}
