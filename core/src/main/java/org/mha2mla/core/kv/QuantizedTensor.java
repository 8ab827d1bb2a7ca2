package org.mha2mla.core.kv;

/**
 * A tensor quantized per group along its last dimension: codes q ∈ [0, 2^bits − 1] packed little-end
 * first (int4: element 2i in the low nibble of byte i; int2: element 4i + j in bits 2j … 2j+1; int8: one
 * code per byte), and per
 * group an fp16 scale and an fp16 zero point. Dequantized value: x̂ = zeroPoint + q · scale, the zero
 * point being kept in the value domain (the group minimum rounded down to fp16, like quanto's float
 * shift), so that no integer rounding of the zero point adds error.
 *
 * @param shape      shape of the original tensor
 * @param bits       2, 4 or 8
 * @param groupSize  elements per group (divides the last dimension)
 * @param packed     ceil(n · bits / 8) bytes of codes
 * @param scales     fp16 bits, one per group
 * @param zeroPoints fp16 bits, one per group
 */
public record QuantizedTensor(long[] shape, int bits, int groupSize, byte[] packed, short[] scales, short[] zeroPoints) {

    /** Number of elements. */
    public long length() {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    /** Number of groups. */
    public int groups() {
        return scales.length;
    }

    /** Bytes held: packed codes + 2 bytes of scale + 2 bytes of zero point per group. */
    public long byteSize() {
        return packed.length + 2L * scales.length + 2L * zeroPoints.length;
    }

    /** The code of element i (flat, C order). */
    public int code(long i) {
        int perByte = 8 / bits;
        int b = packed[(int) (i / perByte)] & 0xff;
        int shift = (int) (i % perByte) * bits;
        return (b >>> shift) & ((1 << bits) - 1);
    }

    /** Scale of group g as float. */
    public float scale(int g) {
        return Fp16.toFloat(scales[g]);
    }

    /** Zero point (value of code 0) of group g as float. */
    public float zeroPoint(int g) {
        return Fp16.toFloat(zeroPoints[g]);
    }
}
