package org.mha2mla.core.kv;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Per-group asymmetric (min/max) int4 / int2 (and int8) quantization of cache tensors, as quanto and HQQ
 * apply it to transformers' KV caches: groups of {@code groupSize} consecutive elements along the last
 * dimension, each with its own scale and zero point (fp16). Codes are packed (two int4 or four int2 per
 * byte; int8 one per byte).
 *
 * <p>Per group: zero = min rounded down to fp16, scale = (max − zero)/(2^bits − 1) rounded up to fp16,
 * q = round((x − zero)/scale). The directed roundings keep every value inside the grid
 * [zero, zero + (2^bits − 1)·scale], so no clamping happens and |x − x̂| ≤ scale/2 for every element
 * (up to float32 rounding of x̂).
 */
public final class KvQuantizer {

    private final int bits;
    private final int groupSize;

    /** A quantizer with 2, 4 or 8 bits and a group size ≥ 1. */
    public KvQuantizer(int bits, int groupSize) {
        if (bits != 2 && bits != 4 && bits != 8) {
            throw new IllegalArgumentException("KV quantization supports int2, int4 and int8, got " + bits + " bits");
        }
        if (groupSize <= 0) {
            throw new IllegalArgumentException("group size must be positive, got " + groupSize);
        }
        this.bits = bits;
        this.groupSize = groupSize;
    }

    /** Bits per code. */
    public int bits() {
        return bits;
    }

    /** Elements per group. */
    public int groupSize() {
        return groupSize;
    }

    /** Quantizes x (any shape whose last dimension is a multiple of the group size). */
    public QuantizedTensor quantize(INDArray x) {
        return quantize(x.castTo(DataType.FLOAT).dup('c').reshape(x.length()).toFloatVector(), x.shape());
    }

    /**
     * Quantizes the C-order values {@code v} of a tensor of {@code shape} (its last dimension a multiple of the
     * group size); the same as {@link #quantize(INDArray)} without going through ND4J, for callers that quantize
     * many small rows (a KV cache, token by token).
     */
    public QuantizedTensor quantize(float[] v, long[] shape) {
        long last = shape.length == 0 ? 1 : shape[shape.length - 1];
        long count = 1;
        for (long d : shape) count *= d;
        if (count != v.length) {
            throw new IllegalArgumentException(v.length + " values for shape " + Arrays.toString(shape));
        }
        if (last % groupSize != 0) {
            throw new IllegalArgumentException("last dimension " + last + " of shape " + Arrays.toString(shape)
                    + " is not a multiple of the group size " + groupSize);
        }
        int n = v.length;
        int groups = n / groupSize;
        int qmax = (1 << bits) - 1;
        int perByte = 8 / bits;
        byte[] packed = new byte[(n + perByte - 1) / perByte];
        short[] scales = new short[groups];
        short[] zeros = new short[groups];
        for (int g = 0; g < groups; g++) {
            int from = g * groupSize;
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            for (int i = from; i < from + groupSize; i++) {
                if (!Float.isFinite(v[i])) {
                    throw new IllegalArgumentException("cannot quantize non-finite value " + v[i] + " at flat index " + i);
                }
                min = Math.min(min, v[i]);
                max = Math.max(max, v[i]);
            }
            short zeroBits = Fp16.roundDown(min);
            double zero = Fp16.toFloat(zeroBits);
            short scaleBits = Fp16.roundUp((max - zero) / qmax);
            double scale = Fp16.toFloat(scaleBits);
            zeros[g] = zeroBits;
            scales[g] = scaleBits;
            for (int i = from; i < from + groupSize; i++) {
                int q = scale == 0 ? 0 : (int) Math.rint((v[i] - zero) / scale);
                q = Math.max(0, Math.min(qmax, q)); // no-op by construction; guards the packing
                packed[i / perByte] |= (byte) (q << ((i % perByte) * bits));
            }
        }
        return new QuantizedTensor(shape.clone(), bits, groupSize, packed, scales, zeros);
    }

    /** Dequantizes to float32 in the original shape: x̂ = zeroPoint + q · scale. */
    public INDArray dequantize(QuantizedTensor q) {
        long n = q.length();
        float[] out = new float[(int) n];
        for (int i = 0; i < n; i++) {
            int g = i / q.groupSize();
            out[i] = (float) (Fp16.toFloat(q.zeroPoints()[g]) + (double) q.code(i) * Fp16.toFloat(q.scales()[g]));
        }
        return Nd4j.create(out, q.shape(), DataType.FLOAT);
    }

    /** Bytes to store {@code values} elements with this quantizer (codes + fp16 scale and zero per group). */
    public long bytes(long values) {
        return bytes(values, bits, groupSize);
    }

    /** ceil(values · bits / 8) + 4 · ceil(values / groupSize). */
    public static long bytes(long values, int bits, int groupSize) {
        long groups = (values + groupSize - 1) / groupSize;
        return (values * bits + 7) / 8 + 4 * groups;
    }
}
