package org.mha2mla.core.rope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class MRopeTest {

    private static final int VS = 3;   // <|vision_start|>
    private static final int VE = 4;   // <|vision_end|>
    private static final int IMG = 6;  // <|image_pad|>
    private static final int VID = 7;  // <|video_pad|>

    @Test
    void imageGrid1x4x6MergedBy2() {
        // Grid (t, h, w) = (1, 4, 6) patches, merge 2 → (1, 2, 3) = 6 image tokens.
        // Sequence: a b <vs> I I I I I I <ve> c d  (L = 12).
        //   text "a b <vs>": 0 1 2 on all axes
        //   image tokens start at 3 (= st_idx 0 + text_len 3), row-major over (h, w):
        //     t: 3 3 3 3 3 3    h: 3 3 3 4 4 4    w: 3 4 5 3 4 5       max = 5
        //   text "<ve> c d" continues at max + 1 = 6: 6 7 8
        // rope_delta = max + 1 − L = 9 − 12 = −3
        int[] ids = {10, 11, VS, IMG, IMG, IMG, IMG, IMG, IMG, VE, 12, 13};
        MRope.RopeIndex idx = MRope.positionIds(ids, new int[][] {{1, 4, 6}}, 2, IMG, VS);
        assertArrayEquals(new long[] {0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7, 8}, idx.positionIds()[MRope.TEMPORAL]);
        assertArrayEquals(new long[] {0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7, 8}, idx.positionIds()[MRope.HEIGHT]);
        assertArrayEquals(new long[] {0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8}, idx.positionIds()[MRope.WIDTH]);
        assertEquals(-3, idx.ropeDelta());
        // Decode: the next token (cache position 12) sits at 12 + (−3) = 9 on every axis.
        assertArrayEquals(new long[] {9, 10}, idx.decodePositions(12, 2)[MRope.HEIGHT]);
    }

    @Test
    void leftPaddingGetsPositionOneAndCountsInTheDelta() {
        // Same as above with two pad tokens in front: real tokens unchanged, pads at 1,
        // delta uses the padded length: 9 − 14 = −5.
        int[] ids = {0, 0, 10, 11, VS, IMG, IMG, IMG, IMG, IMG, IMG, VE, 12, 13};
        boolean[] mask = {false, false, true, true, true, true, true, true, true, true, true, true, true, true};
        MRope.RopeIndex idx = MRope.positionIds(ids, mask, new int[][] {{1, 4, 6}}, null, null, 2, IMG, VID, VS, 2);
        assertArrayEquals(new long[] {1, 1, 0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8}, idx.positionIds()[MRope.WIDTH]);
        assertEquals(-5, idx.ropeDelta());
    }

    @Test
    void twoImagesAndTrailingText() {
        // <vs> I I <ve> x <vs> I I I I <ve>: image A grid (1,2,4) → 1x2 tokens, image B grid (1,4,4) → 2x2.
        //   "<vs>": 0.  A at 1: t 1 1, h 1 1, w 1 2 (max 2).  "<ve> x <vs>" → 3 4 5.
        //   B at 6: t 6 6 6 6, h 6 6 7 7, w 6 7 6 7 (max 7).  "<ve>" → 8.   delta = 9 − 11 = −2
        int[] ids = {VS, IMG, IMG, VE, 20, VS, IMG, IMG, IMG, IMG, VE};
        MRope.RopeIndex idx = MRope.positionIds(ids, new int[][] {{1, 2, 4}, {1, 4, 4}}, 2, IMG, VS);
        assertArrayEquals(new long[] {0, 1, 1, 3, 4, 5, 6, 6, 6, 6, 8}, idx.positionIds()[MRope.TEMPORAL]);
        assertArrayEquals(new long[] {0, 1, 1, 3, 4, 5, 6, 6, 7, 7, 8}, idx.positionIds()[MRope.HEIGHT]);
        assertArrayEquals(new long[] {0, 1, 2, 3, 4, 5, 6, 7, 6, 7, 8}, idx.positionIds()[MRope.WIDTH]);
        assertEquals(-2, idx.ropeDelta());
    }

    @Test
    void videoTemporalPositionsStepBySecondsTimesTokensPerSecond() {
        // <vs> V×8 <ve>, video grid (2, 4, 4), merge 2 → 2 frames of 2x2; 1.0 s per grid, 2 tokens/s:
        // frame f has temporal offset f·1.0·2 = 0, 2. Start = 1 (after "<vs>").
        //   t: 1 1 1 1 3 3 3 3   h: 1 1 2 2 1 1 2 2   w: 1 2 1 2 1 2 1 2   (max 3) → "<ve>" = 4
        int[] ids = {VS, VID, VID, VID, VID, VID, VID, VID, VID, VE};
        MRope.RopeIndex idx = MRope.positionIds(ids, null, null, new int[][] {{2, 4, 4}}, new double[] {1.0},
                2, IMG, VID, VS, 2);
        assertArrayEquals(new long[] {0, 1, 1, 1, 1, 3, 3, 3, 3, 4}, idx.positionIds()[MRope.TEMPORAL]);
        assertArrayEquals(new long[] {0, 1, 1, 2, 2, 1, 1, 2, 2, 4}, idx.positionIds()[MRope.HEIGHT]);
        assertArrayEquals(new long[] {0, 1, 2, 1, 2, 1, 2, 1, 2, 4}, idx.positionIds()[MRope.WIDTH]);
        assertEquals(5 - 10, idx.ropeDelta());
    }

    @Test
    void textOnlyIsArangeWithZeroDelta() {
        MRope.RopeIndex idx = MRope.positionIds(new int[] {5, 6, 7, 8}, null, 2, IMG, VS);
        for (int a = 0; a < 3; a++) {
            assertArrayEquals(new long[] {0, 1, 2, 3}, idx.positionIds()[a]);
        }
        assertEquals(0, idx.ropeDelta());
        // with padding: cumsum(mask) − 1, pads → 1, delta = max + 1 − L = 2 + 1 − 4
        MRope.RopeIndex padded = MRope.positionIds(new int[] {0, 6, 7, 8}, new boolean[] {false, true, true, true},
                null, null, null, 2, IMG, VID, VS, 2);
        assertArrayEquals(new long[] {1, 0, 1, 2}, padded.positionIds()[0]);
        assertEquals(-1, padded.ropeDelta());
    }

    @Test
    void missingGridIsAnError() {
        int[] ids = {VS, IMG, IMG, VE, VS, IMG, IMG, VE};
        assertThrows(IllegalArgumentException.class, () -> MRope.positionIds(ids, new int[][] {{1, 2, 4}}, 2, IMG, VS));
    }

    @Test
    void pairAxisFollowsTheSections() {
        int[] axis = MRope.pairAxis(16, new int[] {2, 3, 3});
        assertArrayEquals(new int[] {0, 0, 1, 1, 1, 2, 2, 2}, axis);
        int[] real = MRope.pairAxis(128, new int[] {16, 24, 24});
        assertEquals(0, real[15]);
        assertEquals(1, real[16]);
        assertEquals(1, real[39]);
        assertEquals(2, real[40]);
        assertThrows(IllegalArgumentException.class, () -> MRope.pairAxis(128, new int[] {16, 24, 16}));
    }

    @Test
    void equalAxesReduceToOneDimensionalRope() {
        long[] pos = {0, 1, 2, 17, 250, 4096};
        CosSin m = MRope.cosSin(new long[][] {pos, pos, pos}, 128, 1_000_000.0, new int[] {16, 24, 24});
        CosSin r = Rope.cosSin(pos, 128, 1_000_000.0);
        assertEquals(r.cos(), m.cos());
        assertEquals(r.sin(), m.sin());
    }

    @Test
    void eachSectionReadsItsOwnAxis() {
        // d_h 16, sections (2, 3, 3): pairs 0-1 ← t, 2-4 ← h, 5-7 ← w; the second half repeats the pattern.
        long[][] pos = {{5}, {11}, {23}};
        CosSin m = MRope.cosSin(pos, 16, 10000, new int[] {2, 3, 3});
        float[] inv = Rope.invFreq(16, 10000);
        int[] axisOfPair = {0, 0, 1, 1, 1, 2, 2, 2};
        for (int k = 0; k < 8; k++) {
            float angle = inv[k] * (float) pos[axisOfPair[k]][0];
            assertEquals((float) Math.cos(angle), m.cos().getFloat(0, k), 0f);
            assertEquals((float) Math.cos(angle), m.cos().getFloat(0, k + 8), 0f);
            assertEquals((float) Math.sin(angle), m.sin().getFloat(0, k + 8), 0f);
        }
    }
}
