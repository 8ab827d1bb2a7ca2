package org.mha2mla.core.partialrope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class MklScorerTest {

    private static INDArray gaussian(long seed, int heads, int length, int d, int[] loudPairs, double[] gains) {
        Random r = new Random(seed);
        double[][][] x = new double[heads][length][d];
        for (double[][] h : x) {
            for (double[] row : h) {
                for (int i = 0; i < d; i++) {
                    row[i] = 0.3 * r.nextGaussian();
                }
                for (int p = 0; p < loudPairs.length; p++) {
                    row[loudPairs[p]] *= gains[p];
                    row[loudPairs[p] + d / 2] *= gains[p];
                }
            }
        }
        return Nd4j.createFromArray(x);
    }

    @Test
    void averagesSamplesThenGroupHeads() {
        MklScorer scorer = new MklScorer(2, 4, 2, 8);
        INDArray q1 = gaussian(1, 4, 8, 8, new int[0], new double[0]);
        INDArray k1 = gaussian(2, 2, 8, 8, new int[0], new double[0]);
        INDArray q2 = gaussian(3, 4, 8, 8, new int[0], new double[0]);
        INDArray k2 = gaussian(4, 2, 8, 8, new int[0], new double[0]);
        scorer.accumulate(1, q1, k1);
        scorer.accumulate(1, q2, k2);
        double[][] a = KlScorer.pairKl(q1, k1, true, null);
        double[][] b = KlScorer.pairKl(q2, k2, true, null);
        double[][] perHead = scorer.queryHeadScores(1);
        for (int h = 0; h < 4; h++) {
            for (int p = 0; p < 4; p++) {
                assertEquals((a[h][p] + b[h][p]) / 2, perHead[h][p], 1e-15);
            }
        }
        double[][] kv = scorer.scores(1);
        assertEquals((perHead[2][1] + perHead[3][1]) / 2, kv[1][1], 1e-15);
        assertEquals(2, scorer.samples(1));
        assertThrows(IllegalStateException.class, () -> scorer.scores(0));
    }

    @Test
    void keepsThePairsThatCarryTheAttentionPattern() {
        // Pairs 5 and 2 of a d_h 16 head carry large q/k components: zeroing them moves attention most,
        // so MKL with r = 2 keeps exactly {2, 5}.
        MklScorer scorer = new MklScorer(1, 2, 1, 16);
        for (int s = 0; s < 3; s++) {
            INDArray q = gaussian(10 + s, 2, 12, 16, new int[] {5, 2}, new double[] {6, 4});
            INDArray k = gaussian(20 + s, 1, 12, 16, new int[] {5, 2}, new double[] {6, 4});
            scorer.accumulate(0, q, k);
        }
        RopeSelection sel = PartialRope.select(RopeStrategy.MKL, 1, 1, 16, 4, scorer.scores());
        assertArrayEquals(new int[] {2, 5}, sel.keptPairs(0, 0));
    }
}
