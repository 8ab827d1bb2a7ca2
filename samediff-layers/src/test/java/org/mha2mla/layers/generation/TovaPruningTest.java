package org.mha2mla.layers.generation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.mha2mla.layers.generation.H2oPruningTest.probs;

import org.junit.jupiter.api.Test;

/** TOVA on hand-made attention probabilities: only the current query's row counts, averaged over heads. */
class TovaPruningTest {

    @Test
    void keepsTheTokensTheLastQueryAttendsToMost() {
        CachePruning.Evictor e = new TovaPruning(Budget.tokens(3)).start(5, 1);
        // Earlier rows all point at token 0; TOVA must ignore them.
        float[] h0 = {
                1, 0, 0, 0, 0,
                1, 0, 0, 0, 0,
                1, 0, 0, 0, 0,
                1, 0, 0, 0, 0,
                .2f, .1f, .1f, .2f, .4f};
        float[] h1 = {
                1, 0, 0, 0, 0,
                1, 0, 0, 0, 0,
                1, 0, 0, 0, 0,
                1, 0, 0, 0, 0,
                0, .5f, 0, .2f, .3f};
        // Last row, mean over heads: .1 .3 .05 .2 .35 → top 3: tokens 4, 1, 3.
        assertArrayEquals(new int[]{1, 3, 4}, e.keep(0, probs(5, 5, h0, h1)));
        // Step over the 3 kept + the new token: mean .4 .1 .25 .25 → the lowest (held index 1) goes.
        assertArrayEquals(new int[]{0, 2, 3}, e.keep(0, probs(1, 4, new float[]{.5f, .1f, .3f, .1f}, new float[]{.3f, .1f, .2f, .4f})));
        // The newest token itself may be the one dropped.
        assertArrayEquals(new int[]{0, 1, 2}, e.keep(0, probs(1, 4, new float[]{.3f, .3f, .3f, .1f}, new float[]{.3f, .3f, .3f, .1f})));
    }

    @Test
    void keepsEverythingWithinTheBudget() {
        CachePruning.Evictor e = new TovaPruning(Budget.fraction(0.5)).start(8, 1); // 4 tokens
        assertNull(e.keep(0, probs(1, 4, new float[]{.1f, .2f, .3f, .4f})));
    }
}
