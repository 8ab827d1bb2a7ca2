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
import org.nd4j.linalg.indexing.NDArrayIndex;

class PartialRopeTest {

    @Test
    void fixedStrategiesForHeadDim128AndDr32() {
        int[] high = PartialRope.highFrequencyPairs(128, 16);
        int[] low = PartialRope.lowFrequencyPairs(128, 16);
        int[] uniform = PartialRope.uniformPairs(128, 16, 0);
        assertEquals(0, high[0]);
        assertEquals(15, high[15]);
        assertEquals(48, low[0]);
        assertEquals(63, low[15]);
        for (int i = 0; i < 16; i++) {
            assertEquals(4 * i, uniform[i]);
        }
        assertArrayEquals(new int[] {1, 5, 9, 13}, PartialRope.uniformPairs(32, 4, 1));
        assertThrows(IllegalArgumentException.class, () -> PartialRope.uniformPairs(128, 16, 4));
        assertThrows(IllegalArgumentException.class, () -> PartialRope.uniformPairs(128, 24, 0));
    }

    @Test
    void uniformMatchesMha2mlaDimMaskRule() {
        // MHA2MLA: step = d_head // rope_dim; mask[i] = 1 for i in range(start, d_head, step).
        int dHead = 64;
        int ropeDim = 16;
        for (int start = 0; start < dHead / ropeDim; start++) {
            boolean[] reference = new boolean[dHead];
            for (int i = start; i < dHead; i += dHead / ropeDim) {
                reference[i] = true;
            }
            int[][][] pairs = {{PartialRope.uniformPairs(dHead, ropeDim / 2, start)}};
            assertArrayEquals(reference, new RopeSelection(dHead, pairs).dimMask(0, 0), "start " + start);
        }
        // HIGH/LOW dim masks, as MHA2MLA's select_high_frequency / select_low_frequency build them
        boolean[] high = new boolean[dHead];
        boolean[] low = new boolean[dHead];
        for (int i = 0; i < ropeDim / 2; i++) {
            high[i] = true;
            high[dHead / 2 + i] = true;
            low[dHead - 1 - i] = true;
            low[dHead / 2 - 1 - i] = true;
        }
        RopeSelection h = PartialRope.select(RopeStrategy.HIGH, 1, 1, dHead, ropeDim, null);
        RopeSelection l = PartialRope.select(RopeStrategy.LOW, 1, 1, dHead, ropeDim, null);
        assertArrayEquals(high, h.dimMask(0, 0));
        assertArrayEquals(low, l.dimMask(0, 0));
    }

    @Test
    void topPairsPicksLargestWithLowerIndexOnTies() {
        double[] scores = {0.1, 0.9, 0.5, 0.9, 0.2, 0.7};
        assertArrayEquals(new int[] {1, 3, 5}, PartialRope.topPairs(scores, 3));
        assertArrayEquals(new int[] {1}, PartialRope.topPairs(scores, 1)); // tie 1 vs 3 → 1
        assertArrayEquals(new int[] {}, PartialRope.topPairs(scores, 0));
        assertThrows(IllegalArgumentException.class, () -> PartialRope.topPairs(new double[] {1, Double.NaN}, 1));
    }

    @Test
    void scoredStrategiesSelectPerLayerAndHead() {
        double[][][] scores = {
            {{0, 1, 2, 3}, {3, 2, 1, 0}},
            {{5, 0, 5, 1}, {0, 0, 9, 8}}};
        RopeSelection s = PartialRope.select(RopeStrategy.MKL, 2, 2, 8, 4, scores);
        assertArrayEquals(new int[] {2, 3}, s.keptPairs(0, 0));
        assertArrayEquals(new int[] {0, 1}, s.keptPairs(0, 1));
        assertArrayEquals(new int[] {0, 2}, s.keptPairs(1, 0));
        assertArrayEquals(new int[] {2, 3}, s.keptPairs(1, 1));
        assertThrows(IllegalArgumentException.class, () -> PartialRope.select(RopeStrategy.TWO_NORM, 2, 2, 8, 4, null));
        assertThrows(IllegalArgumentException.class, () -> PartialRope.select(RopeStrategy.HIGH, 1, 1, 8, 3, null));
        assertEquals(RopeStrategy.TWO_NORM, RopeStrategy.parse("2norm"));
        assertEquals(RopeStrategy.MKL, RopeStrategy.parse("MKL"));
        assertThrows(IllegalArgumentException.class, () -> RopeStrategy.parse("random"));
    }

    @Test
    void foldQueryHeadsSumsOrAveragesEachGroup() {
        // n_h = 4, n_kv = 2: heads 0,1 → KV 0; heads 2,3 → KV 1
        double[][] perHead = {{1, 2}, {3, 4}, {10, 20}, {30, 40}};
        assertArrayEquals(new double[] {4, 6}, PartialRope.foldQueryHeads(perHead, 2, false)[0]);
        assertArrayEquals(new double[] {40, 60}, PartialRope.foldQueryHeads(perHead, 2, false)[1]);
        assertArrayEquals(new double[] {20, 30}, PartialRope.foldQueryHeads(perHead, 2, true)[1]);
        assertThrows(IllegalArgumentException.class, () -> PartialRope.foldQueryHeads(perHead, 3, true));
    }

    @Test
    void partialRotationRotatesKeptDimsOnly() {
        int d = 16;
        INDArray x = Nd4j.rand(DataType.DOUBLE, 2, 5, d).subi(0.5);
        CosSin cs = Rope.cosSin(new long[] {0, 3, 7, 100, 2000}, d, 10000);
        RopeSelection sel = new RopeSelection(d, new int[][][] {{{1, 6}, {0, 3}}});
        INDArray y = PartialRope.applyRotary(x, cs, sel.keyMasks(0));
        INDArray full = Rope.applyRotary(x, cs.cos(), cs.sin());
        for (int h = 0; h < 2; h++) {
            boolean[] mask = sel.dimMask(0, h);
            for (int l = 0; l < 5; l++) {
                for (int i = 0; i < d; i++) {
                    double expected = mask[i] ? full.getDouble(h, l, i) : x.getDouble(h, l, i);
                    assertEquals(expected, y.getDouble(h, l, i), 1e-6, "head " + h + " pos " + l + " dim " + i);
                }
            }
        }
        // all pairs kept = ordinary RoPE
        INDArray allKept = PartialRope.applyRotary(x, cs, RopeSelection.all(1, 2, d).keyMasks(0));
        assertEquals(0.0, allKept.sub(full).norm2Number().doubleValue(), 1e-12);
        INDArray head0 = y.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.all());
        assertArrayEquals(new long[] {5, d}, head0.shape());
    }
}
