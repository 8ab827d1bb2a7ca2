package org.mha2mla.core.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Kernels} on the Java Vector API, at the CPU's widest float vector (16 lanes with AVX-512, 8 with AVX2).
 *
 * <p>Widening is integer arithmetic on the 16-bit lanes: bf16 is the upper half of a float32, so
 * {@code bits << 16}; IEEE f16 moves its exponent and mantissa 13 bits up and rescales by 2¹¹² (one multiply, exact
 * for normal and subnormal values alike, since the float32 read of {@code (|h| << 13)} is |h|'s value times 2⁻¹¹²),
 * with infinities and NaNs (exponent 31) given the float32 all-ones exponent. Matrix-vector products widen each
 * weight vector once per tile of up to four batch rows and keep one accumulator per batch row, so a matrix is
 * read once from memory per call whatever the batch (decoding is bound by the bytes of the weights).
 */
final class VectorKernels implements Kernels {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final int LANES = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Lanes F.length() elements from element {@code index} of {@code src}, widened to float32. */
    private static FloatVector load(ByteBuffer src, long index, Precision p) {
        if (p == Precision.F32) return FloatVector.fromByteBuffer(F, src, Math.toIntExact(index * 4), LE);
        ShortVector s = ShortVector.fromByteBuffer(S, src, Math.toIntExact(index * 2), LE);
        IntVector h = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
        if (p == Precision.BF16) return h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        IntVector abs = h.and(0x7FFF);
        IntVector magnitude = abs.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> special = abs.compare(VectorOperators.GE, 0x7C00);
        IntVector infNan = abs.and(0x3FF).lanewise(VectorOperators.LSHL, 13).or(0x7F800000);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        return magnitude.blend(infNan, special).or(sign).reinterpretAsFloats();
    }

    @Override
    public void widen(ByteBuffer src, long srcIndex, Precision precision, float[] dst, int dstOffset, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) load(src, srcIndex + i, precision).intoArray(dst, dstOffset + i);
        for (; i < n; i++) dst[dstOffset + i] = ScalarKernels.element(src, srcIndex + i, precision);
    }

    @Override
    public void widen(ByteBuffer src, long srcIndex, Precision precision, ByteBuffer dst, long dstIndex, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            load(src, srcIndex + i, precision).intoByteBuffer(dst, Math.toIntExact((dstIndex + i) * 4), LE);
        }
        for (; i < n; i++) dst.putFloat(Math.toIntExact((dstIndex + i) * 4), ScalarKernels.element(src, srcIndex + i, precision));
    }

    @Override
    public void matVec(ByteBuffer w, Precision precision, int cols, int rowFrom, int rowTo,
                       float[] x, int batch, float[] y, int yStride, int yOffset) {
        int bound = F.loopBound(cols);
        for (int r = rowFrom; r < rowTo; r++) {
            long base = (long) r * cols;
            int b = 0;
            for (; b + 4 <= batch; b += 4) {
                int x0 = b * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
                FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                int c = 0;
                for (; c < bound; c += LANES) {
                    FloatVector wv = load(w, base + c, precision);
                    a0 = wv.fma(FloatVector.fromArray(F, x, x0 + c), a0);
                    a1 = wv.fma(FloatVector.fromArray(F, x, x1 + c), a1);
                    a2 = wv.fma(FloatVector.fromArray(F, x, x2 + c), a2);
                    a3 = wv.fma(FloatVector.fromArray(F, x, x3 + c), a3);
                }
                float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
                float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
                for (; c < cols; c++) {
                    float wc = ScalarKernels.element(w, base + c, precision);
                    s0 += wc * x[x0 + c];
                    s1 += wc * x[x1 + c];
                    s2 += wc * x[x2 + c];
                    s3 += wc * x[x3 + c];
                }
                y[b * yStride + yOffset + r] = s0;
                y[(b + 1) * yStride + yOffset + r] = s1;
                y[(b + 2) * yStride + yOffset + r] = s2;
                y[(b + 3) * yStride + yOffset + r] = s3;
            }
            for (; b < batch; b++) y[b * yStride + yOffset + r] = rowDot(w, base, precision, cols, bound, x, b * cols);
        }
    }

    /** One weight row against one x row, with two accumulators so consecutive FMAs do not wait on each other. */
    private static float rowDot(ByteBuffer w, long base, Precision p, int cols, int bound, float[] x, int xOffset) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int c = 0;
        for (; c + LANES < bound; c += 2 * LANES) {
            a0 = load(w, base + c, p).fma(FloatVector.fromArray(F, x, xOffset + c), a0);
            a1 = load(w, base + c + LANES, p).fma(FloatVector.fromArray(F, x, xOffset + c + LANES), a1);
        }
        for (; c < bound; c += LANES) a0 = load(w, base + c, p).fma(FloatVector.fromArray(F, x, xOffset + c), a0);
        float s = a0.add(a1).reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) s += ScalarKernels.element(w, base + c, p) * x[xOffset + c];
        return s;
    }

    @Override
    public float dot(float[] a, int aOffset, float[] b, int bOffset, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int bound = F.loopBound(n);
        int i = 0;
        for (; i + LANES < bound; i += 2 * LANES) {
            a0 = FloatVector.fromArray(F, a, aOffset + i).fma(FloatVector.fromArray(F, b, bOffset + i), a0);
            a1 = FloatVector.fromArray(F, a, aOffset + i + LANES).fma(FloatVector.fromArray(F, b, bOffset + i + LANES), a1);
        }
        for (; i < bound; i += LANES) a0 = FloatVector.fromArray(F, a, aOffset + i).fma(FloatVector.fromArray(F, b, bOffset + i), a0);
        float s = a0.add(a1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += a[aOffset + i] * b[bOffset + i];
        return s;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOffset, float[] y, int yOffset, int n) {
        FloatVector va = FloatVector.broadcast(F, alpha);
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += LANES) {
            FloatVector.fromArray(F, x, xOffset + i).fma(va, FloatVector.fromArray(F, y, yOffset + i)).intoArray(y, yOffset + i);
        }
        for (; i < n; i++) y[yOffset + i] += alpha * x[xOffset + i];
    }
}
