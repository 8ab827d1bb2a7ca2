package org.mha2mla.core.partialrope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.Rope;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class TwoNormScorerTest {

    @Test
    void handComputedProductOfMeansSummedOverTheGroup() {
        // n_h 2, n_kv 1, d_h 4 (pairs {0,2} and {1,3}), L 2.
        // q head 0: tokens (3,0,4,0) (0,1,0,0) → pair0 norms 5, 0 → mean 2.5; pair1 norms 0, 1 → 0.5
        // q head 1: tokens (0,0,0,2) (1,0,0,0) → pair0 norms 0, 1 → 0.5; pair1 norms 2, 0 → 1.0
        // k head 0: tokens (6,0,8,0) (0,1,0,0) → pair0 norms 10, 0 → mean 5; pair1 norms 0, 1 → 0.5
        INDArray q = Nd4j.createFromArray(new double[][][] {
            {{3, 0, 4, 0}, {0, 1, 0, 0}},
            {{0, 0, 0, 2}, {1, 0, 0, 0}}});
        INDArray k = Nd4j.createFromArray(new double[][][] {{{6, 0, 8, 0}, {0, 1, 0, 0}}});
        TwoNormScorer scorer = new TwoNormScorer(1, 2, 1, 4);
        scorer.accumulate(0, q, k);
        double[][] s = scorer.scores(0);
        // pair0: 2.5·5 + 0.5·5 = 15 ; pair1: 0.5·0.5 + 1.0·0.5 = 0.75
        assertArrayEquals(new double[] {15, 0.75}, s[0], 1e-12);

        // A second sample with all k doubled: sample means average → k means ×1.5
        scorer.accumulate(0, q, k.mul(2));
        assertArrayEquals(new double[] {22.5, 1.125}, scorer.scores(0)[0], 1e-12);
        assertEquals(2, scorer.samples(0));
    }

    @Test
    void invariantUnderRotationAndHonoursTokenMask() {
        INDArray q = Nd4j.rand(DataType.DOUBLE, 4, 6, 8).subi(0.5);
        INDArray k = Nd4j.rand(DataType.DOUBLE, 2, 6, 8).subi(0.5);
        CosSin cs = Rope.cosSin(0, 6, 8, 10000);
        TwoNormScorer raw = new TwoNormScorer(1, 4, 2, 8);
        TwoNormScorer rotated = new TwoNormScorer(1, 4, 2, 8);
        raw.accumulate(0, q, k);
        rotated.accumulate(0, Rope.applyRotary(q, cs.cos(), cs.sin()), Rope.applyRotary(k, cs.cos(), cs.sin()));
        for (int g = 0; g < 2; g++) {
            assertArrayEquals(raw.scores(0)[g], rotated.scores(0)[g], 1e-6);
        }
        boolean[] firstThree = {true, true, true, false, false, false};
        double[][] masked = TwoNormScorer.meanPairNorms(q, firstThree);
        double expected = 0;
        for (int l = 0; l < 3; l++) {
            expected += Math.hypot(q.getDouble(1, l, 2), q.getDouble(1, l, 6)) / 3;
        }
        assertEquals(expected, masked[1][2], 1e-12);
        assertThrows(IllegalStateException.class, () -> new TwoNormScorer(2, 4, 2, 8).scores(1));
        assertThrows(IllegalArgumentException.class, () -> raw.accumulate(0, k, q));
    }
}
