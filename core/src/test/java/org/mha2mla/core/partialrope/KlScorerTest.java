package org.mha2mla.core.partialrope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.Rope;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class KlScorerTest {

    private static INDArray gaussian(long seed, int heads, int length, int d, double scale) {
        Random r = new Random(seed);
        double[][][] x = new double[heads][length][d];
        for (double[][] h : x) {
            for (double[] row : h) {
                for (int i = 0; i < d; i++) {
                    row[i] = scale * r.nextGaussian();
                }
            }
        }
        return Nd4j.createFromArray(x);
    }

    /** Naive reference: softmax over keys 0..n-1 of (q_i·k_j)/sqrt(d) with dims of `drop` zeroed in q and k. */
    private static double[] attention(double[] qi, double[][] k, int n, boolean[] drop) {
        int d = qi.length;
        double[] s = new double[n];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            for (int t = 0; t < d; t++) {
                if (drop == null || !drop[t]) {
                    s[j] += qi[t] * k[j][t];
                }
            }
            s[j] /= Math.sqrt(d);
            max = Math.max(max, s[j]);
        }
        double z = 0;
        for (int j = 0; j < n; j++) {
            s[j] = Math.exp(s[j] - max);
            z += s[j];
        }
        for (int j = 0; j < n; j++) {
            s[j] /= z;
        }
        return s;
    }

    @Test
    void klOfTwoDistributions() {
        // KL((0.5, 0.5) || (0.25, 0.75)) = 0.5 ln 2 + 0.5 ln(2/3)
        assertEquals(0.5 * Math.log(2) + 0.5 * Math.log(2.0 / 3), KlScorer.kl(new double[] {0.5, 0.5},
                new double[] {0.25, 0.75}), 1e-15);
        assertEquals(0.0, KlScorer.kl(new double[] {0, 1}, new double[] {0.3, 0.7}) - Math.log(1 / 0.7), 1e-15);
    }

    @Test
    void pairKlMatchesHandComputedSoftmaxOnATinyExample() {
        // 1 head, L 3, d_h 4: pairs are dims {0,2} and {1,3}.
        double[][] q = {{1.0, -0.5, 2.0, 0.3}, {0.2, 1.5, -1.0, 0.7}, {-0.8, 0.4, 0.9, -1.2}};
        double[][] k = {{0.5, 1.0, -0.3, 0.8}, {1.2, -0.7, 0.4, 0.1}, {-0.6, 0.9, 1.1, -0.4}};
        INDArray qa = Nd4j.createFromArray(new double[][][] {q});
        INDArray ka = Nd4j.createFromArray(new double[][][] {k});
        for (boolean causal : new boolean[] {true, false}) {
            double[][] kl = KlScorer.pairKl(qa, ka, causal, null);
            for (int pair = 0; pair < 2; pair++) {
                boolean[] drop = new boolean[4];
                drop[pair] = true;
                drop[pair + 2] = true;
                double expected = 0;
                for (int i = 0; i < 3; i++) {
                    int n = causal ? i + 1 : 3;
                    expected += KlScorer.kl(attention(q[i], k, n, null), attention(q[i], k, n, drop)) / 3;
                }
                assertEquals(expected, kl[0][pair], 1e-14, "causal=" + causal + " pair " + pair);
                assertTrue(expected > 1e-4, "the example must exercise a non-trivial KL");
            }
        }
        // Row 0 under a causal mask sees one key: its KL is exactly 0, so restricting to row 0 gives 0.
        boolean[] row0 = {true, false, false};
        assertArrayEquals(new double[] {0, 0}, KlScorer.pairKl(qa, ka, true, row0)[0], 0.0);
    }

    @Test
    void zeroQueryPairGivesZeroKl() {
        INDArray q = gaussian(1, 2, 12, 8, 1.0);
        INDArray k = gaussian(2, 2, 12, 8, 1.0);
        // zero pair 3 (dims 3 and 7) of query head 1
        q.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.point(3)).assign(0);
        q.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.point(7)).assign(0);
        double[][] kl = KlScorer.pairKl(q, k, true, null);
        assertEquals(0.0, kl[1][3], 1e-15);
        assertTrue(kl[0][3] > 0);
        for (int p = 0; p < 4; p++) {
            if (p != 3) {
                assertTrue(kl[1][p] > 0, "pair " + p);
            }
        }
    }

    @Test
    void gqaQueryHeadsReadTheirKvHead() {
        // n_h 4, n_kv 2: query head 3 uses KV head 1. Same as an MHA call with that head alone.
        INDArray q = gaussian(3, 4, 10, 8, 1.0);
        INDArray k = gaussian(4, 2, 10, 8, 1.0);
        double[][] gqa = KlScorer.pairKl(q, k, true, null);
        INDArray q3 = q.get(NDArrayIndex.interval(3, 4), NDArrayIndex.all(), NDArrayIndex.all());
        INDArray k1 = k.get(NDArrayIndex.interval(1, 2), NDArrayIndex.all(), NDArrayIndex.all());
        assertArrayEquals(KlScorer.pairKl(q3, k1, true, null)[0], gqa[3], 1e-15);
        assertThrows(IllegalArgumentException.class, () -> KlScorer.pairKl(gaussian(5, 3, 10, 8, 1), k, true, null));
    }

    @Test
    void selectionKlIsZeroForEverythingAndEqualsPairKlForAllButOnePair() {
        INDArray q = gaussian(6, 2, 9, 8, 1.5);
        INDArray k = gaussian(7, 1, 9, 8, 1.5);
        boolean[][] all = {new boolean[8]};
        java.util.Arrays.fill(all[0], true);
        assertArrayEquals(new double[] {0, 0}, KlScorer.selectionKl(q, k, all, true, null), 1e-15);
        boolean[][] allButPair2 = {all[0].clone()};
        allButPair2[0][2] = false;
        allButPair2[0][6] = false;
        double[] sel = KlScorer.selectionKl(q, k, allButPair2, true, null);
        double[][] pair = KlScorer.pairKl(q, k, true, null);
        assertEquals(pair[0][2], sel[0], 1e-13);
        assertEquals(pair[1][2], sel[1], 1e-13);
    }

    @Test
    void partialRopeKlAgainstDirectComputation() {
        int d = 8;
        int length = 7;
        INDArray q = gaussian(8, 1, length, d, 1.0);
        INDArray k = gaussian(9, 1, length, d, 1.0);
        CosSin cs = Rope.cosSin(new long[] {0, 1, 2, 3, 10, 11, 12}, d, 100);
        boolean[][] all = {new boolean[d]};
        java.util.Arrays.fill(all[0], true);
        assertEquals(0.0, KlScorer.partialRopeKl(q, k, cs, all, true, null)[0], 1e-15);
        // Keep nothing: the partial model is NoPE everywhere, i.e. plain q·k without rotation.
        boolean[][] none = {new boolean[d]};
        double[][] qr = Rope.applyRotary(q, cs.cos(), cs.sin()).get(NDArrayIndex.point(0)).toDoubleMatrix();
        double[][] kr = Rope.applyRotary(k, cs.cos(), cs.sin()).get(NDArrayIndex.point(0)).toDoubleMatrix();
        double[][] q0 = q.get(NDArrayIndex.point(0)).toDoubleMatrix();
        double[][] k0 = k.get(NDArrayIndex.point(0)).toDoubleMatrix();
        double expected = 0;
        for (int i = 0; i < length; i++) {
            expected += KlScorer.kl(attention(qr[i], kr, i + 1, null), attention(q0[i], k0, i + 1, null)) / length;
        }
        assertEquals(expected, KlScorer.partialRopeKl(q, k, cs, none, true, null)[0], 1e-6);
        assertTrue(expected > 1e-3);
    }

    @Test
    void queryMaskAveragesOnlySelectedRows() {
        INDArray q = gaussian(10, 1, 6, 4, 1.0);
        INDArray k = gaussian(11, 1, 6, 4, 1.0);
        boolean[] rows = {false, false, true, false, true, false};
        boolean[] only2 = {false, false, true, false, false, false};
        boolean[] only4 = {false, false, false, false, true, false};
        double[] both = KlScorer.pairKl(q, k, true, rows)[0];
        double[] a = KlScorer.pairKl(q, k, true, only2)[0];
        double[] b = KlScorer.pairKl(q, k, true, only4)[0];
        for (int p = 0; p < 2; p++) {
            assertEquals((a[p] + b[p]) / 2, both[p], 1e-15);
        }
        assertThrows(IllegalArgumentException.class, () -> KlScorer.pairKl(q, k, true, new boolean[6]));
    }
}
