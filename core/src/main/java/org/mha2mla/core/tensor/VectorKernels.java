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
 * with infinities and NaNs (exponent 31) given the float32 all-ones exponent. A decode step's products (batch below
 * 4) read each weight vector once and widen its elements where they lie in the vector, in pairs; larger batches
 * widen tiles of weight rows once into float32 and multiply them in blocks of 4 × 4 ({@link #matVec}). Either way a
 * matrix is read once from memory per call whatever the batch (decoding is bound by the bytes of the weights).
 */
final class VectorKernels implements Kernels {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final int LANES = F.length();
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    private static final int D_LANES = D.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** 16-bit elements per int vector: the block of {@link #matVecPairs}. */
    private static final int PAIR = 2 * LANES;
    /** Sign (bit 31) and the f16 exponent and mantissa shifted to bits 27…13. */
    private static final int F16_FIELDS = 0x8FFFE000;
    /** Per thread: x reordered for {@link #matVecPairs}, grown to the largest batch × cols seen. */
    private static final ThreadLocal<float[]> PAIRED_X = ThreadLocal.withInitial(() -> new float[0]);
    /** Per thread: weight rows widened to float32 ({@link #matVecTiles}, {@link #matVecPairs}' exact rows). */
    private static final ThreadLocal<float[]> WEIGHT_TILE = ThreadLocal.withInitial(() -> new float[0]);
    /** Floats in a tile of widened weight rows: 256 KB. */
    private static final int TILE_FLOATS = 1 << 16;

    /*
     * Lanes F.length() elements from element {@code index} of {@code src}, widened to float32, one method per precision,
     * and every loop below runs on one precision. A C2-compiled loop whose load switched on the precision, and had seen
     * more than one, ran up to 30 times slower: the vectors the branches produced were boxed where they merged
     * (figures in benchmarks/kernels/README.md).
     */
    private static FloatVector loadF32(ByteBuffer src, long index) {
        return FloatVector.fromByteBuffer(F, src, Math.toIntExact(index * 4), LE);
    }

    private static FloatVector loadBf16(ByteBuffer src, long index) {
        ShortVector s = ShortVector.fromByteBuffer(S, src, Math.toIntExact(index * 2), LE);
        return ((IntVector) s.convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector loadF16(ByteBuffer src, long index) {
        ShortVector s = ShortVector.fromByteBuffer(S, src, Math.toIntExact(index * 2), LE);
        IntVector h = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
        IntVector abs = h.and(0x7FFF);
        IntVector magnitude = abs.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> special = abs.compare(VectorOperators.GE, 0x7C00);
        IntVector infNan = abs.and(0x3FF).lanewise(VectorOperators.LSHL, 13).or(0x7F800000);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        return magnitude.blend(infNan, special).or(sign).reinterpretAsFloats();
    }

    @Override
    public void widen(ByteBuffer src, long srcIndex, Precision precision, float[] dst, int dstOffset, int n) {
        int i = switch (precision) {
            case F32 -> widenF32(src, srcIndex, dst, dstOffset, n);
            case BF16 -> widenBf16(src, srcIndex, dst, dstOffset, n);
            case F16 -> widenF16(src, srcIndex, dst, dstOffset, n);
        };
        for (; i < n; i++) dst[dstOffset + i] = ScalarKernels.element(src, srcIndex + i, precision);
    }

    // One loop per precision (see the comment above loadF32); each returns how many elements it widened.
    private static int widenF32(ByteBuffer src, long srcIndex, float[] dst, int dstOffset, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) loadF32(src, srcIndex + i).intoArray(dst, dstOffset + i);
        return i;
    }

    private static int widenBf16(ByteBuffer src, long srcIndex, float[] dst, int dstOffset, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) loadBf16(src, srcIndex + i).intoArray(dst, dstOffset + i);
        return i;
    }

    private static int widenF16(ByteBuffer src, long srcIndex, float[] dst, int dstOffset, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) loadF16(src, srcIndex + i).intoArray(dst, dstOffset + i);
        return i;
    }

    @Override
    public void widen(ByteBuffer src, long srcIndex, Precision precision, ByteBuffer dst, long dstIndex, int n) {
        int i = switch (precision) {
            case F32 -> widenF32(src, srcIndex, dst, dstIndex, n);
            case BF16 -> widenBf16(src, srcIndex, dst, dstIndex, n);
            case F16 -> widenF16(src, srcIndex, dst, dstIndex, n);
        };
        for (; i < n; i++) dst.putFloat(Math.toIntExact((dstIndex + i) * 4), ScalarKernels.element(src, srcIndex + i, precision));
    }

    private static int widenF32(ByteBuffer src, long srcIndex, ByteBuffer dst, long dstIndex, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) loadF32(src, srcIndex + i).intoByteBuffer(dst, Math.toIntExact((dstIndex + i) * 4), LE);
        return i;
    }

    private static int widenBf16(ByteBuffer src, long srcIndex, ByteBuffer dst, long dstIndex, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) loadBf16(src, srcIndex + i).intoByteBuffer(dst, Math.toIntExact((dstIndex + i) * 4), LE);
        return i;
    }

    private static int widenF16(ByteBuffer src, long srcIndex, ByteBuffer dst, long dstIndex, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) loadF16(src, srcIndex + i).intoByteBuffer(dst, Math.toIntExact((dstIndex + i) * 4), LE);
        return i;
    }

    /**
     * Three paths, each on one precision at a time (see the comment above {@link #loadF32}):
     * <ul>
     *   <li>fewer than 4 batch rows over a 16-bit weight (the decode step): {@link #matVecPairs};</li>
     *   <li>fewer than 4 batch rows over a float32 weight: one row at a time, {@link #rowDotF32};</li>
     *   <li>4 batch rows or more: tiles of weight rows widened into a float32 scratch array, then {@link #dots}'
     *       blocks of 4 × 4 (each weight element widened once per call, whatever the batch).</li>
     * </ul>
     */
    @Override
    public void matVec(ByteBuffer w, Precision precision, int cols, int rowFrom, int rowTo,
                       float[] x, int batch, float[] y, int yStride, int yOffset) {
        if (batch >= 4 || (precision != Precision.F32 && cols < PAIR)) {
            matVecTiles(w, precision, cols, rowFrom, rowTo, x, batch, y, yStride, yOffset);
        } else if (precision != Precision.F32) {
            matVecPairs(w, precision, cols, rowFrom, rowTo, x, batch, y, yStride, yOffset);
        } else {
            int bound = F.loopBound(cols);
            for (int r = rowFrom; r < rowTo; r++) {
                for (int b = 0; b < batch; b++) y[b * yStride + yOffset + r] = rowDotF32(w, (long) r * cols, cols, bound, x, b * cols);
            }
        }
    }

    /**
     * Tiles of weight rows (about 256 KB of float32, at least 4 rows) widened into a per-thread scratch array, each
     * multiplied with every batch row by {@link #dots}: x and the tile stay in the core's L2 cache.
     */
    private void matVecTiles(ByteBuffer w, Precision p, int cols, int rowFrom, int rowTo,
                             float[] x, int batch, float[] y, int yStride, int yOffset) {
        int tileRows = Math.max(4, TILE_FLOATS / Math.max(1, cols));
        float[] tile = scratch(WEIGHT_TILE, Math.min(tileRows, rowTo - rowFrom) * cols);
        for (int r = rowFrom; r < rowTo; r += tileRows) {
            int rows = Math.min(tileRows, rowTo - r);
            widen(w, (long) r * cols, p, tile, 0, rows * cols);
            dots(x, 0, cols, batch, tile, 0, cols, rows, cols, 1f, false, y, yOffset + r, yStride, 1);
        }
    }

    /**
     * Fewer than 4 batch rows over a 16-bit weight: the decode step, bound by the weight's bytes, so the widening must
     * cost fewer vector ops than the memory needs time. Each int lane of a weight vector holds two consecutive
     * elements, and both are widened where they lie, without the short-to-int conversion {@link #loadF16} needs: the
     * even elements (low halves) form one float vector, the odd elements (high halves) another. {@code x} is reordered
     * once per call to match (each block of {@link #PAIR} values as its even then its odd elements). A column tail
     * shorter than a block runs scalar.
     */
    private void matVecPairs(ByteBuffer w, Precision p, int cols, int rowFrom, int rowTo,
                                    float[] x, int batch, float[] y, int yStride, int yOffset) {
        int pairBound = cols - cols % PAIR;
        float[] xp = pairedRows(x, batch, cols, pairBound);
        for (int r = rowFrom; r < rowTo; r++) {
            long base = (long) r * cols;
            for (int b = 0; b < batch; b++) {
                int x0 = b * cols;
                float s = p == Precision.BF16 ? rowDotBf16Pairs(w, base, pairBound, xp, x0) : rowDotF16Pairs(w, base, pairBound, xp, x0);
                if (Float.isNaN(s)) s = exactRow(w, base, p, cols, x, x0);   // an f16 Inf or NaN in the row
                else for (int c = pairBound; c < cols; c++) s += ScalarKernels.element(w, base + c, p) * x[x0 + c];
                y[b * yStride + yOffset + r] = s;
            }
        }
    }

    /** The batch rows of x with each block of {@link #PAIR} values reordered as its even then its odd elements. */
    private static float[] pairedRows(float[] x, int batch, int cols, int pairBound) {
        float[] xp = scratch(PAIRED_X, batch * cols);
        for (int b = 0; b < batch; b++) {
            int x0 = b * cols;
            for (int c = 0; c < pairBound; c += PAIR) {
                for (int j = 0; j < LANES; j++) {
                    xp[x0 + c + j] = x[x0 + c + 2 * j];
                    xp[x0 + c + LANES + j] = x[x0 + c + 2 * j + 1];
                }
            }
        }
        return xp;
    }

    /** Σ_c w[base + c]·x[x0 + c] with the row widened exactly first (infinities and NaNs as they are). */
    private float exactRow(ByteBuffer w, long base, Precision p, int cols, float[] x, int x0) {
        float[] row = scratch(WEIGHT_TILE, cols);
        widen(w, base, p, row, 0, cols);
        return dot(row, 0, x, x0, cols);
    }

    /** The thread's scratch array of {@code holder}, grown to at least n floats. */
    private static float[] scratch(ThreadLocal<float[]> holder, int n) {
        float[] a = holder.get();
        if (a.length < n) {
            a = new float[n];
            holder.set(a);
        }
        return a;
    }

    /** Σ w·x over the first pairBound elements of a bf16 row: even elements {@code v << 16}, odd ones {@code v & 0xFFFF0000}. */
    private static float rowDotBf16Pairs(ByteBuffer w, long base, int pairBound, float[] xp, int x0) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        for (int c = 0; c < pairBound; c += PAIR) {
            IntVector v = IntVector.fromByteBuffer(I, w, Math.toIntExact((base + c) * 2), LE);
            a0 = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, x0 + c), a0);
            a1 = v.and(0xFFFF0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, x0 + c + LANES), a1);
        }
        return a0.add(a1).reduceLanes(VectorOperators.ADD);
    }

    /**
     * Σ w·x over the first pairBound elements of an f16 row, or NaN when the row holds an f16 infinity or NaN (the
     * caller then takes {@link #loadF16}'s exact widening). For a half h at bits 15…0 of a lane, an arithmetic shift right
     * by 3 puts its exponent and mantissa at bits 27…13 and its sign at bit 31 (copied into 30…28, which the mask
     * clears): the float32 read of that, times 2¹¹², is h's value for normal and subnormal h alike (see the class
     * comment). The even half is first moved up to bits 31…16. An exponent of 31 (infinity, NaN) would widen to a
     * finite value; adding 0x0400 to a half's exponent and mantissa carries into its bit 15 exactly then, which the
     * loop ORs together for both halves of every lane.
     */
    private static float rowDotF16Pairs(ByteBuffer w, long base, int pairBound, float[] xp, int x0) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        IntVector special = IntVector.zero(I);
        for (int c = 0; c < pairBound; c += PAIR) {
            IntVector v = IntVector.fromByteBuffer(I, w, Math.toIntExact((base + c) * 2), LE);
            FloatVector even = v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_FIELDS)
                    .reinterpretAsFloats().mul(0x1p112f);
            FloatVector odd = v.lanewise(VectorOperators.ASHR, 3).and(F16_FIELDS).reinterpretAsFloats().mul(0x1p112f);
            a0 = even.fma(FloatVector.fromArray(F, xp, x0 + c), a0);
            a1 = odd.fma(FloatVector.fromArray(F, xp, x0 + c + LANES), a1);
            special = special.or(v.and(0x7FFF7FFF).add(0x04000400));
        }
        if (special.and(0x80008000).reduceLanes(VectorOperators.OR) != 0) return Float.NaN;
        return a0.add(a1).reduceLanes(VectorOperators.ADD);
    }

    /** One float32 weight row against one x row, with two accumulators so consecutive FMAs do not wait on each other. */
    private static float rowDotF32(ByteBuffer w, long base, int cols, int bound, float[] x, int xOffset) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int c = 0;
        for (; c + LANES < bound; c += 2 * LANES) {
            a0 = loadF32(w, base + c).fma(FloatVector.fromArray(F, x, xOffset + c), a0);
            a1 = loadF32(w, base + c + LANES).fma(FloatVector.fromArray(F, x, xOffset + c + LANES), a1);
        }
        for (; c < bound; c += LANES) a0 = loadF32(w, base + c).fma(FloatVector.fromArray(F, x, xOffset + c), a0);
        float s = a0.add(a1).reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) s += w.getFloat(Math.toIntExact((base + c) * 4)) * x[xOffset + c];
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
     * A block's sums on their way from the accumulators to out, per thread: a new array per call (thousands per decode
     * step) made the young generation fault in fresh pages at a measurable cost.
     */
    private static final ThreadLocal<float[]> SUMS = ThreadLocal.withInitial(() -> new float[8 * LANES]);

    @Override
    public int transposedStride(int m) {
        return (m + LANES - 1) / LANES * LANES;
    }

    /**
     * Blocks of 4 rows of b × 2 vectors of a's rows in 8 accumulators (per element c: two vector loads of aᵀ, four
     * broadcasts of b, eight multiply-adds), then 8 × 1 vector for an odd last vector; single rows of b after the
     * blocks. Each block's sums go through {@code sums} to their places in out (a lane per row of a, m of them kept).
     */
    @Override
    public void dotsTransposed(float[] aT, int aTOffset, int m, float[] b, int bOffset, int bStride, int n, int k,
                               boolean accumulate, float[] out, int oOffset, int oRow, int oCol) {
        int s = transposedStride(m);
        float[] sums = SUMS.get();
        int v = 0;
        for (; v + 2 * LANES <= s; v += 2 * LANES) {
            int rows = Math.min(2 * LANES, m - v);
            int j = 0;
            for (; j + 4 <= n; j += 4) {
                transposed4x2(aT, aTOffset + v, s, b, bOffset + j * bStride, bStride, k, sums);
                scatter(sums, 4, 2 * LANES, rows, accumulate, out, oOffset + v * oRow + j * oCol, oRow, oCol);
            }
            for (; j < n; j++) {
                transposed1x2(aT, aTOffset + v, s, b, bOffset + j * bStride, k, sums);
                scatter(sums, 1, 2 * LANES, rows, accumulate, out, oOffset + v * oRow + j * oCol, oRow, oCol);
            }
        }
        if (v < s) {
            int rows = m - v;
            int j = 0;
            for (; j + 8 <= n; j += 8) {
                transposed8x1(aT, aTOffset + v, s, b, bOffset + j * bStride, bStride, k, sums);
                scatter(sums, 8, LANES, rows, accumulate, out, oOffset + v * oRow + j * oCol, oRow, oCol);
            }
            for (; j < n; j++) {
                FloatVector acc = FloatVector.zero(F);
                int b0 = bOffset + j * bStride;
                for (int c = 0; c < k; c++) acc = FloatVector.fromArray(F, aT, aTOffset + v + c * s).fma(FloatVector.broadcast(F, b[b0 + c]), acc);
                acc.intoArray(sums, 0);
                scatter(sums, 1, LANES, rows, accumulate, out, oOffset + v * oRow + j * oCol, oRow, oCol);
            }
        }
    }

    private static void transposed4x2(float[] aT, int a0, int s, float[] b, int b0, int bStride, int k, float[] sums) {
        int b1 = b0 + bStride, b2 = b1 + bStride, b3 = b2 + bStride;
        FloatVector s00 = FloatVector.zero(F), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
        for (int c = 0; c < k; c++) {
            int row = a0 + c * s;
            FloatVector x0 = FloatVector.fromArray(F, aT, row), x1 = FloatVector.fromArray(F, aT, row + LANES);
            FloatVector y = FloatVector.broadcast(F, b[b0 + c]);
            s00 = x0.fma(y, s00); s01 = x1.fma(y, s01);
            y = FloatVector.broadcast(F, b[b1 + c]);
            s10 = x0.fma(y, s10); s11 = x1.fma(y, s11);
            y = FloatVector.broadcast(F, b[b2 + c]);
            s20 = x0.fma(y, s20); s21 = x1.fma(y, s21);
            y = FloatVector.broadcast(F, b[b3 + c]);
            s30 = x0.fma(y, s30); s31 = x1.fma(y, s31);
        }
        s00.intoArray(sums, 0); s01.intoArray(sums, LANES);
        s10.intoArray(sums, 2 * LANES); s11.intoArray(sums, 3 * LANES);
        s20.intoArray(sums, 4 * LANES); s21.intoArray(sums, 5 * LANES);
        s30.intoArray(sums, 6 * LANES); s31.intoArray(sums, 7 * LANES);
    }

    private static void transposed1x2(float[] aT, int a0, int s, float[] b, int b0, int k, float[] sums) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        for (int c = 0; c < k; c++) {
            int row = a0 + c * s;
            FloatVector y = FloatVector.broadcast(F, b[b0 + c]);
            s0 = FloatVector.fromArray(F, aT, row).fma(y, s0);
            s1 = FloatVector.fromArray(F, aT, row + LANES).fma(y, s1);
        }
        s0.intoArray(sums, 0);
        s1.intoArray(sums, LANES);
    }

    private static void transposed8x1(float[] aT, int a0, int s, float[] b, int b0, int bStride, int k, float[] sums) {
        int b1 = b0 + bStride, b2 = b1 + bStride, b3 = b2 + bStride, b4 = b3 + bStride, b5 = b4 + bStride, b6 = b5 + bStride, b7 = b6 + bStride;
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
        for (int c = 0; c < k; c++) {
            FloatVector x = FloatVector.fromArray(F, aT, a0 + c * s);
            s0 = x.fma(FloatVector.broadcast(F, b[b0 + c]), s0);
            s1 = x.fma(FloatVector.broadcast(F, b[b1 + c]), s1);
            s2 = x.fma(FloatVector.broadcast(F, b[b2 + c]), s2);
            s3 = x.fma(FloatVector.broadcast(F, b[b3 + c]), s3);
            s4 = x.fma(FloatVector.broadcast(F, b[b4 + c]), s4);
            s5 = x.fma(FloatVector.broadcast(F, b[b5 + c]), s5);
            s6 = x.fma(FloatVector.broadcast(F, b[b6 + c]), s6);
            s7 = x.fma(FloatVector.broadcast(F, b[b7 + c]), s7);
        }
        s0.intoArray(sums, 0); s1.intoArray(sums, LANES); s2.intoArray(sums, 2 * LANES); s3.intoArray(sums, 3 * LANES);
        s4.intoArray(sums, 4 * LANES); s5.intoArray(sums, 5 * LANES); s6.intoArray(sums, 6 * LANES); s7.intoArray(sums, 7 * LANES);
    }

    /** sums[q·width + r] (row r of a against row q of b) to out[o + r·oRow + q·oCol] for r < rows, q < slots. */
    private static void scatter(float[] sums, int slots, int width, int rows, boolean accumulate, float[] out, int o, int oRow, int oCol) {
        for (int q = 0; q < slots; q++) {
            int oq = o + q * oCol;
            for (int r = 0; r < rows; r++) {
                float v = sums[q * width + r];
                int at = oq + r * oRow;
                out[at] = accumulate ? out[at] + v : v;
            }
        }
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
