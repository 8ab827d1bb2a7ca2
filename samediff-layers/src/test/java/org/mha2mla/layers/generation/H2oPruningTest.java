package org.mha2mla.layers.generation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.mha2mla.layers.decode.AttentionProbs;

/** H2O on hand-made attention probabilities, every kept index and score worked out by hand below. */
class H2oPruningTest {

    /** [1, heads, L, T] from per-head row-major matrices. */
    static AttentionProbs probs(int queries, int keys, float[]... heads) {
        float[] flat = new float[heads.length * queries * keys];
        for (int h = 0; h < heads.length; h++) System.arraycopy(heads[h], 0, flat, h * queries * keys, queries * keys);
        return new AttentionProbs(flat, 1, heads.length, queries, keys, keys);
    }

    @Test
    void keepsHeavyHittersAndRecentWindowAsScoresAccumulate() {
        // budget 4 tokens: recent ⌊0.5·4⌋ = 2, heavy 2
        H2oPruning.State s = (H2oPruning.State) new H2oPruning(Budget.tokens(4)).start(6, 1);
        assertEquals(4, s.cacheSize);
        assertEquals(2, s.recentSize);
        float[] p = {
                1, 0, 0, 0, 0, 0,
                .5f, .5f, 0, 0, 0, 0,
                .2f, .6f, .2f, 0, 0, 0,
                .1f, .1f, .7f, .1f, 0, 0,
                .4f, .1f, .1f, .3f, .1f, 0,
                .1f, .1f, .1f, .1f, .5f, .1f};
        // Column sums 2.3 1.4 1.1 0.5 0.6 0.1, two equal heads → 4.6 2.8 2.2 1.0 1.2 0.2.
        // Recent: tokens 4, 5; heavy among 0..3: 0 (4.6) and 1 (2.8).
        assertArrayEquals(new int[]{0, 1, 4, 5}, s.keep(0, probs(6, 6, p, p)));
        assertArrayEquals(new double[]{4.6, 2.8, 1.2, 0.2}, s.scores(0), 1e-6);

        // Step: the new token (held index 4) joins; received 0 0 1.8 0.1 0.1 → scores 4.6 2.8 3.0 0.3 0.1.
        // Recent: held 3, 4; heavy among 0..2: 0 (4.6) and 2 (3.0): the old heavy hitter 1 goes, the recent token 2 stays.
        float[] q = {0, 0, .9f, .05f, .05f};
        assertArrayEquals(new int[]{0, 2, 3, 4}, s.keep(0, probs(1, 5, q, q)));
        assertArrayEquals(new double[]{4.6, 3.0, 0.3, 0.1}, s.scores(0), 1e-6);
    }

    @Test
    void keepsEverythingWithinTheBudget() {
        CachePruning.Evictor e = new H2oPruning(Budget.fraction(1.0)).start(3, 2);
        float[] p = {1, 0, 0, .5f, .5f, 0, .2f, .3f, .5f};
        assertNull(e.keep(0, probs(3, 3, p)));
        assertNull(e.keep(1, probs(3, 3, p)));
    }

    @Test
    void recentShareSplitsTheBudget() {
        // budget 3, recent share 0: the three highest scores whatever their age (.4, .3, .15).
        CachePruning.Evictor e = new H2oPruning(Budget.tokens(3), 0).start(5, 1);
        float[] p = {.1f, .3f, .05f, .4f, .15f};
        assertArrayEquals(new int[]{1, 3, 4}, e.keep(0, probs(1, 5, p)));
        // recent share 1: the last three tokens.
        CachePruning.Evictor r = new H2oPruning(Budget.tokens(3), 1).start(5, 1);
        assertArrayEquals(new int[]{2, 3, 4}, r.keep(0, probs(1, 5, p)));
        assertThrows(IllegalArgumentException.class, () -> new H2oPruning(Budget.tokens(3), 1.5));
    }
}
