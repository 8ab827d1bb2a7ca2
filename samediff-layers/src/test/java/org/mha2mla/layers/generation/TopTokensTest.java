package org.mha2mla.layers.generation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

class TopTokensTest {

    @Test
    void highestScoresAscendingTiesToTheEarlierToken() {
        double[] s = {0.2, 0.5, 0.2, 0.9, 0.2};
        assertArrayEquals(new int[]{1, 3}, TopTokens.top(s, 5, 2));
        assertArrayEquals(new int[]{0, 1, 3}, TopTokens.top(s, 5, 3));   // 0.2 ties: token 0 before 2 and 4
        assertArrayEquals(new int[]{0, 1, 2}, TopTokens.top(s, 3, 5));   // only [0, end) and at most end of them
        assertArrayEquals(new double[]{0.5, 0.9}, TopTokens.select(s, new int[]{1, 3}));
    }
}
