package org.mha2mla.core.partialrope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.Rope;

class RopeSelectionTest {

    // 2 layers, 2 KV heads, d_h 16 (8 pairs), r = 2
    private static final int[][][] PAIRS = {
        {{5, 1}, {0, 7}},
        {{2, 3}, {6, 4}}};

    @Test
    void masksAndDimsFollowTheRotateHalfLayout() {
        RopeSelection s = new RopeSelection(16, PAIRS);
        assertEquals(2, s.layers());
        assertEquals(2, s.kvHeads());
        assertEquals(2, s.keptPairCount());
        assertEquals(4, s.ropeDim());
        assertArrayEquals(new int[] {1, 5}, s.keptPairs(0, 0)); // sorted
        boolean[] m = s.dimMask(0, 0);
        for (int i = 0; i < 16; i++) {
            assertEquals(i == 1 || i == 5 || i == 9 || i == 13, m[i], "dim " + i);
        }
        assertArrayEquals(new int[] {1, 5, 9, 13}, s.ropeDims(0, 0));
        assertArrayEquals(new int[] {0, 2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15}, s.nopeDims(0, 0));
        assertArrayEquals(new int[] {4, 6, 12, 14}, s.ropeDims(1, 1));
    }

    @Test
    void gatheredRopeDimsAreThemselvesRotateHalfPairs() {
        // cos at ropeDims[i] and ropeDims[i + r] hold the same angle, so a d_r-wide k_rope can be rotated
        // with rotate_half on its own.
        RopeSelection s = new RopeSelection(16, PAIRS);
        CosSin cs = Rope.cosSin(new long[] {3, 9}, 16, 10000);
        int[] dims = s.ropeDims(1, 1);
        int r = s.keptPairCount();
        for (int row = 0; row < 2; row++) {
            for (int i = 0; i < r; i++) {
                assertEquals(cs.cos().getFloat(row, dims[i]), cs.cos().getFloat(row, dims[i + r]));
                assertEquals(cs.sin().getFloat(row, dims[i]), cs.sin().getFloat(row, dims[i + r]));
            }
        }
    }

    @Test
    void queryHeadsRepeatInterleaveTheirKvHeadSelection() {
        RopeSelection s = new RopeSelection(16, PAIRS);
        boolean[][] q = s.queryMasks(0, 8); // GQA group of 4
        for (int h = 0; h < 8; h++) {
            assertArrayEquals(s.dimMask(0, h / 4), q[h], "query head " + h);
        }
        assertThrows(IllegalArgumentException.class, () -> s.queryMasks(0, 5));
        assertEquals(2, s.keyMasks(1).length);
    }

    @Test
    void validatesCountsRangesAndDuplicates() {
        assertThrows(IllegalArgumentException.class, () -> new RopeSelection(16, new int[][][] {{{1, 2}, {3}}}));
        assertThrows(IllegalArgumentException.class, () -> new RopeSelection(16, new int[][][] {{{1, 8}}}));
        assertThrows(IllegalArgumentException.class, () -> new RopeSelection(16, new int[][][] {{{2, 2}}}));
        assertThrows(IllegalArgumentException.class, () -> new RopeSelection(15, new int[][][] {{{2}}}));
    }

    @Test
    void allKeepsEveryPairAndCopiesAreIndependent() {
        RopeSelection all = RopeSelection.all(3, 2, 8);
        assertEquals(8, all.ropeDim());
        assertEquals(0, all.nopeDims(2, 1).length);
        int[][][] copy = all.toArray();
        copy[0][0][0] = 3;
        assertArrayEquals(new int[] {0, 1, 2, 3}, all.keptPairs(0, 0));
        assertEquals(new RopeSelection(16, PAIRS), new RopeSelection(16, PAIRS));
        assertNotEquals(new RopeSelection(16, PAIRS), all);
        assertTrue(all.dimMask(0, 0)[7]);
        assertFalse(new RopeSelection(16, PAIRS).dimMask(0, 1)[1]);
    }
}
