package org.mha2mla.core.rope;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Rotary tables in the Hugging Face {@code rotate_half} layout: column k and column k + d_h/2 hold
 * the same angle (pair k), so both arrays have shape [L, d_h] (float32, as transformers computes them).
 */
public record CosSin(INDArray cos, INDArray sin) {

    /** Number of positions L. */
    public int length() {
        return (int) cos.rows();
    }

    /** Head dimension d_h. */
    public int headDim() {
        return (int) cos.columns();
    }
}
