package org.mha2mla.core.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jdk.incubator.vector.DoubleVector;
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
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    private static final int D_LANES = D.length();
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
        int r = rowFrom;
        if (batch >= 4) {
            for (; r + 4 <= rowTo; r += 4) matVec4Rows(w, precision, cols, r, x, batch, y, yStride, yOffset);
        }
        for (; r < rowTo; r++) {
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

    /**
     * Weight rows r … r + 3 against every batch row, 4 batch rows at a time: 16 accumulators, each weight vector
     * widened once per 4 batch rows and each x vector loaded once per 4 weight rows (half a load per multiply-add;
     * one weight row at a time needs 1.25). With a batch the product is bound by arithmetic, not by the weight's bytes,
     * so the loads per multiply-add set its speed (figures in benchmarks/kernels/README.md).
     */
    private static void matVec4Rows(ByteBuffer w, Precision p, int cols, int r, float[] x, int batch, float[] y, int yStride, int yOffset) {
        long w0 = (long) r * cols;
        int b = 0;
        for (; b + 4 <= batch; b += 4) block4x4(w, p, cols, w0, x, b * cols, y, b * yStride + yOffset + r, yStride);
        for (; b < batch; b++) block4x1(w, p, cols, w0, x, b * cols, y, b * yStride + yOffset + r);
    }

    /** Weight rows from element w0 (4 rows of cols) × x rows from x0 (4 rows of cols) into y[o + i + j·yStride]. */
    private static void block4x4(ByteBuffer w, Precision p, int cols, long w0, float[] x, int x0, float[] y, int o, int yStride) {
        long w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
        int x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        int bound = F.loopBound(cols);
        FloatVector s00 = FloatVector.zero(F), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
        FloatVector s20 = s00, s21 = s00, s22 = s00, s23 = s00, s30 = s00, s31 = s00, s32 = s00, s33 = s00;
        for (int c = 0; c < bound; c += LANES) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + c), v1 = FloatVector.fromArray(F, x, x1 + c);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + c), v3 = FloatVector.fromArray(F, x, x3 + c);
            FloatVector u = load(w, w0 + c, p);
            s00 = u.fma(v0, s00); s01 = u.fma(v1, s01); s02 = u.fma(v2, s02); s03 = u.fma(v3, s03);
            u = load(w, w1 + c, p);
            s10 = u.fma(v0, s10); s11 = u.fma(v1, s11); s12 = u.fma(v2, s12); s13 = u.fma(v3, s13);
            u = load(w, w2 + c, p);
            s20 = u.fma(v0, s20); s21 = u.fma(v1, s21); s22 = u.fma(v2, s22); s23 = u.fma(v3, s23);
            u = load(w, w3 + c, p);
            s30 = u.fma(v0, s30); s31 = u.fma(v1, s31); s32 = u.fma(v2, s32); s33 = u.fma(v3, s33);
        }
        y[o] = s00.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w0, x, x0, bound, cols);
        y[o + yStride] = s01.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w0, x, x1, bound, cols);
        y[o + 2 * yStride] = s02.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w0, x, x2, bound, cols);
        y[o + 3 * yStride] = s03.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w0, x, x3, bound, cols);
        y[o + 1] = s10.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w1, x, x0, bound, cols);
        y[o + 1 + yStride] = s11.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w1, x, x1, bound, cols);
        y[o + 1 + 2 * yStride] = s12.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w1, x, x2, bound, cols);
        y[o + 1 + 3 * yStride] = s13.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w1, x, x3, bound, cols);
        y[o + 2] = s20.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w2, x, x0, bound, cols);
        y[o + 2 + yStride] = s21.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w2, x, x1, bound, cols);
        y[o + 2 + 2 * yStride] = s22.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w2, x, x2, bound, cols);
        y[o + 2 + 3 * yStride] = s23.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w2, x, x3, bound, cols);
        y[o + 3] = s30.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w3, x, x0, bound, cols);
        y[o + 3 + yStride] = s31.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w3, x, x1, bound, cols);
        y[o + 3 + 2 * yStride] = s32.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w3, x, x2, bound, cols);
        y[o + 3 + 3 * yStride] = s33.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w3, x, x3, bound, cols);
    }

    /** Weight rows from element w0 (4 rows) × one x row from x0 into y[o … o + 3]. */
    private static void block4x1(ByteBuffer w, Precision p, int cols, long w0, float[] x, int x0, float[] y, int o) {
        long w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
        int bound = F.loopBound(cols);
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        for (int c = 0; c < bound; c += LANES) {
            FloatVector v = FloatVector.fromArray(F, x, x0 + c);
            s0 = load(w, w0 + c, p).fma(v, s0);
            s1 = load(w, w1 + c, p).fma(v, s1);
            s2 = load(w, w2 + c, p).fma(v, s2);
            s3 = load(w, w3 + c, p).fma(v, s3);
        }
        y[o] = s0.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w0, x, x0, bound, cols);
        y[o + 1] = s1.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w1, x, x0, bound, cols);
        y[o + 2] = s2.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w2, x, x0, bound, cols);
        y[o + 3] = s3.reduceLanes(VectorOperators.ADD) + rowTail(w, p, w3, x, x0, bound, cols);
    }

    /** Σ w[base + c]·x[x0 + c] over the scalar tail [bound, cols). */
    private static float rowTail(ByteBuffer w, Precision p, long base, float[] x, int x0, int bound, int cols) {
        float s = 0;
        for (int c = bound; c < cols; c++) s += ScalarKernels.element(w, base + c, p) * x[x0 + c];
        return s;
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

    /**
     * Blocks of 4 rows of {@code a} × 4 rows of {@code b}: 16 accumulators, each vector of a and b loaded once per
     * block (half a load per multiply-add, where one row pair at a time needs two), then 16 lane reductions. Each
     * block shape is a method of its own: one method holding them all grows past what C2 compiles, and the Vector API
     * outside C2 runs about a thousand times slower (figures in benchmarks/kernels/README.md).
     */
    @Override
    public void dots(float[] a, int aOffset, int aStride, int m, float[] b, int bOffset, int bStride, int n, int k,
                     float alpha, boolean accumulate, float[] out, int oOffset, int oRow, int oCol) {
        int i = 0;
        // A remainder of 3 rows runs as a block of 4 with its last row repeated (and not stored): 75% of the block's
        // speed, above one row at a time.
        for (; i + 4 <= m || m - i == 3; i += 4) {
            int rows = Math.min(4, m - i);
            int a0 = aOffset + i * aStride;
            int j = 0;
            for (; j + 4 <= n; j += 4) {
                dots4x4(a, a0, aStride, rows, b, bOffset + j * bStride, bStride, k, alpha, accumulate, out, oOffset + i * oRow + j * oCol, oRow, oCol);
            }
            for (; j < n; j++) {
                for (int r = 0; r < rows; r++) {
                    int o = oOffset + (i + r) * oRow + j * oCol;
                    float d = alpha * dot(a, a0 + r * aStride, b, bOffset + j * bStride, k);
                    out[o] = accumulate ? out[o] + d : d;
                }
            }
        }
        for (; i < m; i++) {
            int a0 = aOffset + i * aStride;
            int j = 0;
            for (; j + 4 <= n; j += 4) {
                dots4x1(b, bOffset + j * bStride, bStride, a, a0, k, alpha, accumulate, out, oOffset + i * oRow + j * oCol, oCol);
            }
            for (; j < n; j++) {
                int o = oOffset + i * oRow + j * oCol;
                float d = alpha * dot(a, a0, b, bOffset + j * bStride, k);
                out[o] = accumulate ? out[o] + d : d;
            }
        }
    }

    /** Rows a0 … of {@code a} (the first {@code rows} ≤ 4 of them stored; the last one repeated) × 4 rows of b. */
    private static void dots4x4(float[] a, int a0, int aStride, int rows, float[] b, int b0, int bStride, int k,
                                float alpha, boolean accumulate, float[] out, int o, int oRow, int oCol) {
        int a1 = a0 + Math.min(1, rows - 1) * aStride, a2 = a0 + Math.min(2, rows - 1) * aStride, a3 = a0 + Math.min(3, rows - 1) * aStride;
        int b1 = b0 + bStride, b2 = b1 + bStride, b3 = b2 + bStride;
        int bound = F.loopBound(k);
        FloatVector s00 = FloatVector.zero(F), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
        FloatVector s20 = s00, s21 = s00, s22 = s00, s23 = s00, s30 = s00, s31 = s00, s32 = s00, s33 = s00;
        for (int c = 0; c < bound; c += LANES) {
            FloatVector y0 = FloatVector.fromArray(F, b, b0 + c), y1 = FloatVector.fromArray(F, b, b1 + c);
            FloatVector y2 = FloatVector.fromArray(F, b, b2 + c), y3 = FloatVector.fromArray(F, b, b3 + c);
            FloatVector x = FloatVector.fromArray(F, a, a0 + c);
            s00 = x.fma(y0, s00); s01 = x.fma(y1, s01); s02 = x.fma(y2, s02); s03 = x.fma(y3, s03);
            x = FloatVector.fromArray(F, a, a1 + c);
            s10 = x.fma(y0, s10); s11 = x.fma(y1, s11); s12 = x.fma(y2, s12); s13 = x.fma(y3, s13);
            x = FloatVector.fromArray(F, a, a2 + c);
            s20 = x.fma(y0, s20); s21 = x.fma(y1, s21); s22 = x.fma(y2, s22); s23 = x.fma(y3, s23);
            x = FloatVector.fromArray(F, a, a3 + c);
            s30 = x.fma(y0, s30); s31 = x.fma(y1, s31); s32 = x.fma(y2, s32); s33 = x.fma(y3, s33);
        }
        store(out, o, alpha, accumulate, s00.reduceLanes(VectorOperators.ADD) + tail(a, a0, b, b0, bound, k));
        store(out, o + oCol, alpha, accumulate, s01.reduceLanes(VectorOperators.ADD) + tail(a, a0, b, b1, bound, k));
        store(out, o + 2 * oCol, alpha, accumulate, s02.reduceLanes(VectorOperators.ADD) + tail(a, a0, b, b2, bound, k));
        store(out, o + 3 * oCol, alpha, accumulate, s03.reduceLanes(VectorOperators.ADD) + tail(a, a0, b, b3, bound, k));
        if (rows < 2) return;
        o += oRow;
        store(out, o, alpha, accumulate, s10.reduceLanes(VectorOperators.ADD) + tail(a, a1, b, b0, bound, k));
        store(out, o + oCol, alpha, accumulate, s11.reduceLanes(VectorOperators.ADD) + tail(a, a1, b, b1, bound, k));
        store(out, o + 2 * oCol, alpha, accumulate, s12.reduceLanes(VectorOperators.ADD) + tail(a, a1, b, b2, bound, k));
        store(out, o + 3 * oCol, alpha, accumulate, s13.reduceLanes(VectorOperators.ADD) + tail(a, a1, b, b3, bound, k));
        if (rows < 3) return;
        o += oRow;
        store(out, o, alpha, accumulate, s20.reduceLanes(VectorOperators.ADD) + tail(a, a2, b, b0, bound, k));
        store(out, o + oCol, alpha, accumulate, s21.reduceLanes(VectorOperators.ADD) + tail(a, a2, b, b1, bound, k));
        store(out, o + 2 * oCol, alpha, accumulate, s22.reduceLanes(VectorOperators.ADD) + tail(a, a2, b, b2, bound, k));
        store(out, o + 3 * oCol, alpha, accumulate, s23.reduceLanes(VectorOperators.ADD) + tail(a, a2, b, b3, bound, k));
        if (rows < 4) return;
        o += oRow;
        store(out, o, alpha, accumulate, s30.reduceLanes(VectorOperators.ADD) + tail(a, a3, b, b0, bound, k));
        store(out, o + oCol, alpha, accumulate, s31.reduceLanes(VectorOperators.ADD) + tail(a, a3, b, b1, bound, k));
        store(out, o + 2 * oCol, alpha, accumulate, s32.reduceLanes(VectorOperators.ADD) + tail(a, a3, b, b2, bound, k));
        store(out, o + 3 * oCol, alpha, accumulate, s33.reduceLanes(VectorOperators.ADD) + tail(a, a3, b, b3, bound, k));
    }

    /** 4 rows of {@code a} (stride aStride) against one row of {@code b}, written at o, o + oStep, o + 2·oStep, o + 3·oStep. */
    private static void dots4x1(float[] a, int a0, int aStride, float[] b, int b0, int k,
                                float alpha, boolean accumulate, float[] out, int o, int oStep) {
        int a1 = a0 + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
        int bound = F.loopBound(k);
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        for (int c = 0; c < bound; c += LANES) {
            FloatVector y = FloatVector.fromArray(F, b, b0 + c);
            s0 = FloatVector.fromArray(F, a, a0 + c).fma(y, s0);
            s1 = FloatVector.fromArray(F, a, a1 + c).fma(y, s1);
            s2 = FloatVector.fromArray(F, a, a2 + c).fma(y, s2);
            s3 = FloatVector.fromArray(F, a, a3 + c).fma(y, s3);
        }
        store(out, o, alpha, accumulate, s0.reduceLanes(VectorOperators.ADD) + tail(a, a0, b, b0, bound, k));
        store(out, o + oStep, alpha, accumulate, s1.reduceLanes(VectorOperators.ADD) + tail(a, a1, b, b0, bound, k));
        store(out, o + 2 * oStep, alpha, accumulate, s2.reduceLanes(VectorOperators.ADD) + tail(a, a2, b, b0, bound, k));
        store(out, o + 3 * oStep, alpha, accumulate, s3.reduceLanes(VectorOperators.ADD) + tail(a, a3, b, b0, bound, k));
    }

    /** Σ a[aRow + c]·b[bRow + c] over the scalar tail [bound, k). */
    private static float tail(float[] a, int aRow, float[] b, int bRow, int bound, int k) {
        float s = 0;
        for (int c = bound; c < k; c++) s += a[aRow + c] * b[bRow + c];
        return s;
    }

    private static void store(float[] out, int o, float alpha, boolean accumulate, float sum) {
        float v = alpha * sum;
        out[o] = accumulate ? out[o] + v : v;
    }

    /**
     * Blocks of 4 output rows × 4 vectors of columns held in 16 accumulators over all j: each vector of b is loaded
     * once per block of rows and each weight broadcast once per block of columns. Each block shape is a method of its
     * own, for the reason {@link #dots} gives.
     */
    @Override
    public void weightedRows(float[] p, int pOffset, int pStride, int m, float[] b, int bOffset, int bStride, int n, int k,
                             float[] out, int oOffset, int oStride) {
        int block = 4 * LANES;
        int blockBound = k - k % block;
        int bound = F.loopBound(k);
        int i = 0;
        for (; i + 4 <= m || m - i == 3; i += 4) {   // a remainder of 3 rows as a block of 4 (see dots)
            int rows = Math.min(4, m - i);
            int p0 = pOffset + i * pStride;
            int o0 = oOffset + i * oStride;
            int c = 0;
            for (; c < blockBound; c += block) weighted4x4(p, p0, pStride, rows, b, bOffset + c, bStride, n, out, o0 + c, oStride);
            for (; c < bound; c += LANES) weighted4x1(p, p0, pStride, rows, b, bOffset + c, bStride, n, out, o0 + c, oStride);
            for (; c < k; c++) {
                for (int r = 0; r < rows; r++) out[o0 + r * oStride + c] += weightedTail(p, p0 + r * pStride, b, bOffset + c, bStride, n);
            }
        }
        for (; i < m; i++) {
            int p0 = pOffset + i * pStride;
            int o0 = oOffset + i * oStride;
            int c = 0;
            for (; c < blockBound; c += block) weighted1x4(p, p0, b, bOffset + c, bStride, n, out, o0 + c);
            for (; c < bound; c += LANES) {
                FloatVector r = FloatVector.fromArray(F, out, o0 + c);
                for (int j = 0; j < n; j++) r = FloatVector.fromArray(F, b, bOffset + j * bStride + c).fma(FloatVector.broadcast(F, p[p0 + j]), r);
                r.intoArray(out, o0 + c);
            }
            for (; c < k; c++) out[o0 + c] += weightedTail(p, p0, b, bOffset + c, bStride, n);
        }
    }

    /**
     * Rows p0 … of weights (stride pStride; the first {@code rows} ≤ 4 stored, the last repeated) over 4 vectors of
     * columns from b0: 16 accumulators.
     */
    private static void weighted4x4(float[] p, int p0, int pStride, int rows, float[] b, int b0, int bStride, int n, float[] out, int o0, int oStride) {
        int p1 = p0 + Math.min(1, rows - 1) * pStride, p2 = p0 + Math.min(2, rows - 1) * pStride, p3 = p0 + Math.min(3, rows - 1) * pStride;
        int o1 = o0 + Math.min(1, rows - 1) * oStride, o2 = o0 + Math.min(2, rows - 1) * oStride, o3 = o0 + Math.min(3, rows - 1) * oStride;
        int c1 = LANES, c2 = 2 * LANES, c3 = 3 * LANES;
        FloatVector r00 = FloatVector.fromArray(F, out, o0), r01 = FloatVector.fromArray(F, out, o0 + c1);
        FloatVector r02 = FloatVector.fromArray(F, out, o0 + c2), r03 = FloatVector.fromArray(F, out, o0 + c3);
        FloatVector r10 = FloatVector.fromArray(F, out, o1), r11 = FloatVector.fromArray(F, out, o1 + c1);
        FloatVector r12 = FloatVector.fromArray(F, out, o1 + c2), r13 = FloatVector.fromArray(F, out, o1 + c3);
        FloatVector r20 = FloatVector.fromArray(F, out, o2), r21 = FloatVector.fromArray(F, out, o2 + c1);
        FloatVector r22 = FloatVector.fromArray(F, out, o2 + c2), r23 = FloatVector.fromArray(F, out, o2 + c3);
        FloatVector r30 = FloatVector.fromArray(F, out, o3), r31 = FloatVector.fromArray(F, out, o3 + c1);
        FloatVector r32 = FloatVector.fromArray(F, out, o3 + c2), r33 = FloatVector.fromArray(F, out, o3 + c3);
        for (int j = 0; j < n; j++) {
            int bj = b0 + j * bStride;
            FloatVector y0 = FloatVector.fromArray(F, b, bj), y1 = FloatVector.fromArray(F, b, bj + c1);
            FloatVector y2 = FloatVector.fromArray(F, b, bj + c2), y3 = FloatVector.fromArray(F, b, bj + c3);
            FloatVector w = FloatVector.broadcast(F, p[p0 + j]);
            r00 = y0.fma(w, r00); r01 = y1.fma(w, r01); r02 = y2.fma(w, r02); r03 = y3.fma(w, r03);
            w = FloatVector.broadcast(F, p[p1 + j]);
            r10 = y0.fma(w, r10); r11 = y1.fma(w, r11); r12 = y2.fma(w, r12); r13 = y3.fma(w, r13);
            w = FloatVector.broadcast(F, p[p2 + j]);
            r20 = y0.fma(w, r20); r21 = y1.fma(w, r21); r22 = y2.fma(w, r22); r23 = y3.fma(w, r23);
            w = FloatVector.broadcast(F, p[p3 + j]);
            r30 = y0.fma(w, r30); r31 = y1.fma(w, r31); r32 = y2.fma(w, r32); r33 = y3.fma(w, r33);
        }
        // stored last to first: a repeated row's copies hold the same sums, the first row's is what stays
        if (rows > 3) { r30.intoArray(out, o3); r31.intoArray(out, o3 + c1); r32.intoArray(out, o3 + c2); r33.intoArray(out, o3 + c3); }
        if (rows > 2) { r20.intoArray(out, o2); r21.intoArray(out, o2 + c1); r22.intoArray(out, o2 + c2); r23.intoArray(out, o2 + c3); }
        if (rows > 1) { r10.intoArray(out, o1); r11.intoArray(out, o1 + c1); r12.intoArray(out, o1 + c2); r13.intoArray(out, o1 + c3); }
        r00.intoArray(out, o0); r01.intoArray(out, o0 + c1); r02.intoArray(out, o0 + c2); r03.intoArray(out, o0 + c3);
    }

    /** Rows p0 … of weights (as {@link #weighted4x4}) over one vector of columns. */
    private static void weighted4x1(float[] p, int p0, int pStride, int rows, float[] b, int b0, int bStride, int n, float[] out, int o0, int oStride) {
        int p1 = p0 + Math.min(1, rows - 1) * pStride, p2 = p0 + Math.min(2, rows - 1) * pStride, p3 = p0 + Math.min(3, rows - 1) * pStride;
        int o1 = o0 + Math.min(1, rows - 1) * oStride, o2 = o0 + Math.min(2, rows - 1) * oStride, o3 = o0 + Math.min(3, rows - 1) * oStride;
        FloatVector r0 = FloatVector.fromArray(F, out, o0), r1 = FloatVector.fromArray(F, out, o1);
        FloatVector r2 = FloatVector.fromArray(F, out, o2), r3 = FloatVector.fromArray(F, out, o3);
        for (int j = 0; j < n; j++) {
            FloatVector y = FloatVector.fromArray(F, b, b0 + j * bStride);
            r0 = y.fma(FloatVector.broadcast(F, p[p0 + j]), r0);
            r1 = y.fma(FloatVector.broadcast(F, p[p1 + j]), r1);
            r2 = y.fma(FloatVector.broadcast(F, p[p2 + j]), r2);
            r3 = y.fma(FloatVector.broadcast(F, p[p3 + j]), r3);
        }
        if (rows > 3) r3.intoArray(out, o3);
        if (rows > 2) r2.intoArray(out, o2);
        if (rows > 1) r1.intoArray(out, o1);
        r0.intoArray(out, o0);
    }

    /** One row of weights over 4 vectors of columns. */
    private static void weighted1x4(float[] p, int p0, float[] b, int b0, int bStride, int n, float[] out, int o0) {
        int c1 = LANES, c2 = 2 * LANES, c3 = 3 * LANES;
        FloatVector r0 = FloatVector.fromArray(F, out, o0), r1 = FloatVector.fromArray(F, out, o0 + c1);
        FloatVector r2 = FloatVector.fromArray(F, out, o0 + c2), r3 = FloatVector.fromArray(F, out, o0 + c3);
        for (int j = 0; j < n; j++) {
            int bj = b0 + j * bStride;
            FloatVector w = FloatVector.broadcast(F, p[p0 + j]);
            r0 = FloatVector.fromArray(F, b, bj).fma(w, r0);
            r1 = FloatVector.fromArray(F, b, bj + c1).fma(w, r1);
            r2 = FloatVector.fromArray(F, b, bj + c2).fma(w, r2);
            r3 = FloatVector.fromArray(F, b, bj + c3).fma(w, r3);
        }
        r0.intoArray(out, o0);
        r1.intoArray(out, o0 + c1);
        r2.intoArray(out, o0 + c2);
        r3.intoArray(out, o0 + c3);
    }

    /** Σ_j p[p0 + j]·b[b0 + j·bStride] (one column). */
    private static float weightedTail(float[] p, int p0, float[] b, int b0, int bStride, int n) {
        float s = 0;
        for (int j = 0; j < n; j++) s += p[p0 + j] * b[b0 + j * bStride];
        return s;
    }

    @Override
    public float max(float[] x, int offset, int n) {
        int i = 0;
        float m = Float.NEGATIVE_INFINITY;
        int bound = F.loopBound(n);
        if (bound > 0) {
            FloatVector v = FloatVector.fromArray(F, x, offset);
            for (i = LANES; i < bound; i += LANES) v = v.max(FloatVector.fromArray(F, x, offset + i));
            m = v.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) m = Math.max(m, x[offset + i]);
        return m;
    }

    @Override
    public float expShift(float[] x, int offset, int n, float shift) {
        FloatVector s = FloatVector.broadcast(F, shift);
        FloatVector sum = FloatVector.zero(F);
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += LANES) {
            FloatVector e = FloatVector.fromArray(F, x, offset + i).sub(s).lanewise(VectorOperators.EXP);
            e.intoArray(x, offset + i);
            sum = sum.add(e);
        }
        float total = sum.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float e = (float) Math.exp(x[offset + i] - shift);
            x[offset + i] = e;
            total += e;
        }
        return total;
    }

    @Override
    public void scale(float alpha, float[] x, int offset, int n) {
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += LANES) FloatVector.fromArray(F, x, offset + i).mul(alpha).intoArray(x, offset + i);
        for (; i < n; i++) x[offset + i] *= alpha;
    }

    @Override
    public void siluMul(float[] gate, int gOffset, float[] up, int uOffset, float[] out, int oOffset, int n) {
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += LANES) {
            FloatVector g = FloatVector.fromArray(F, gate, gOffset + i);
            FloatVector sigmoidInverse = g.neg().lanewise(VectorOperators.EXP).add(1f);
            g.div(sigmoidInverse).mul(FloatVector.fromArray(F, up, uOffset + i)).intoArray(out, oOffset + i);
        }
        for (; i < n; i++) {
            float g = gate[gOffset + i];
            out[oOffset + i] = g / (1f + (float) Math.exp(-g)) * up[uOffset + i];
        }
    }

    @Override
    public double combineAndWeigh(double a, double[] x, int xOffset, double b, double[] y, int yOffset, double[] p, double[] c, int n) {
        DoubleVector sum = DoubleVector.zero(D);
        int i = 0;
        for (int bound = D.loopBound(n); i < bound; i += D_LANES) {
            DoubleVector ci = DoubleVector.fromArray(D, x, xOffset + i).mul(a).add(DoubleVector.fromArray(D, y, yOffset + i).mul(b));
            ci.intoArray(c, i);
            sum = DoubleVector.fromArray(D, p, i).fma(ci, sum);
        }
        double total = sum.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            c[i] = a * x[xOffset + i] + b * y[yOffset + i];
            total += p[i] * c[i];
        }
        return total;
    }

    @Override
    public double expWeightedSum(double[] p, double[] c, int n, double shift) {
        DoubleVector s = DoubleVector.broadcast(D, shift);
        DoubleVector sum = DoubleVector.zero(D);
        int i = 0;
        for (int bound = D.loopBound(n); i < bound; i += D_LANES) {
            DoubleVector e = s.sub(DoubleVector.fromArray(D, c, i)).lanewise(VectorOperators.EXP);
            sum = DoubleVector.fromArray(D, p, i).fma(e, sum);
        }
        double total = sum.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) total += p[i] * Math.exp(shift - c[i]);
        return total;
    }
}
