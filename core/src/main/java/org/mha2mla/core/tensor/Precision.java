package org.mha2mla.core.tensor;

/**
 * How a weight's elements are stored: float32, or one of the two 16-bit formats checkpoints ship in. Compute is
 * always float32; the 16-bit formats are widened exactly (every bf16 and f16 value is a float32 value).
 */
public enum Precision {
    F32(4), F16(2), BF16(2);

    private final int bytes;

    Precision(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }
}
