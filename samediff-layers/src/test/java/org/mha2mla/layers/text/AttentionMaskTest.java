package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

class AttentionMaskTest {

    @Test
    void causalWithPastAndLeftPadding() {
        // one sequence, 2 new queries after 3 cached keys, key 0 is padding
        INDArray m = AttentionMask.causal(new long[][]{{0, 1, 1, 1, 1}}, 2);
        assertArrayEquals(new long[]{1, 1, 2, 5}, m.shape());
        float x = AttentionMask.MASKED;
        assertArrayEquals(new float[]{x, 0, 0, 0, x}, m.slice(0).slice(0).getRow(0).toFloatVector());
        assertArrayEquals(new float[]{x, 0, 0, 0, 0}, m.slice(0).slice(0).getRow(1).toFloatVector());
        assertEquals(0f, AttentionMask.causal(1, 4).sumNumber().floatValue()); // a decode step sees all the cache
    }
}
