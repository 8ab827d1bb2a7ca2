package org.mha2mla.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/**
 * The Vector API kernels against the plain loops and against float64 sums: widening is exact for every 16-bit
 * pattern, products agree to float32 summation-order error, for lengths that exercise the vector tails.
 */
class KernelsTest {

    private final Kernels vector = new VectorKernels();
    private final Kernels scalar = new ScalarKernels();

    @Test
    void theTestJvmRunsTheVectorKernels() {
        assertTrue(Kernels.vectorized(), "surefire must start the JVM with --add-modules jdk.incubator.vector");
    }

    @Test
    void widenIsExactForEverySixteenBitPattern() {
        ByteBuffer all = ByteBuffer.allocate(65536 * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 65536; i++) all.putShort(i * 2, (short) i);
        for (Precision p : new Precision[]{Precision.BF16, Precision.F16}) {
            float[] v = new float[65536];
            vector.widen(all, 0, p, v, 0, 65536);
            for (int i = 0; i < 65536; i++) {
                float expected = p == Precision.BF16 ? Float.intBitsToFloat(i << 16) : ScalarKernels.halfToFloat((short) i);
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(v[i]), p + " pattern 0x" + Integer.toHexString(i));
            }
        }
        // The f16 reference itself: a few values known exactly.
        assertEquals(1.0f, ScalarKernels.halfToFloat((short) 0x3C00));
        assertEquals(-2.0f, ScalarKernels.halfToFloat((short) 0xC000));
        assertEquals(65504f, ScalarKernels.halfToFloat((short) 0x7BFF));
        assertEquals(0x1p-24f, ScalarKernels.halfToFloat((short) 0x0001));
        assertEquals(Float.NEGATIVE_INFINITY, ScalarKernels.halfToFloat((short) 0xFC00));
        assertTrue(Float.isNaN(ScalarKernels.halfToFloat((short) 0x7E00)));
    }

    @Test
    void widenIntoAByteBufferMatchesTheArrayForm() {
        SplittableRandom rnd = new SplittableRandom(3);
        for (Precision p : Precision.values()) {
            int n = 1000 + 13;
            ByteBuffer src = random(n, p, rnd);
            float[] expected = new float[n];
            scalar.widen(src, 0, p, expected, 0, n);
            ByteBuffer dst = ByteBuffer.allocateDirect((n + 5) * 4).order(ByteOrder.LITTLE_ENDIAN);
            vector.widen(src, 7, p, dst, 5, n - 7);
            for (int i = 7; i < n; i++) assertEquals(expected[i], dst.getFloat((5 + i - 7) * 4), p + " element " + i);
        }
    }

    @Test
    void matVecAgreesWithAFloat64ReferenceForEveryBatchAndTail() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (Precision p : Precision.values()) {
            for (int cols : new int[]{1, 15, 16, 33, 100, 257}) {
                int rows = 11;
                ByteBuffer w = random(rows * cols, p, rnd);
                float[] wf = new float[rows * cols];
                scalar.widen(w, 0, p, wf, 0, rows * cols);
                for (int batch : new int[]{1, 2, 3, 4, 5, 9}) {
                    float[] x = new float[batch * cols];
                    for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                    int stride = rows + 3;
                    float[] y = new float[batch * stride];
                    vector.matVec(w, p, cols, 2, rows, x, batch, y, stride, 1);
                    for (int b = 0; b < batch; b++) {
                        assertEquals(0f, y[b * stride + 1], "row 0 lies outside [2, rows) and must stay untouched");
                        for (int r = 2; r < rows; r++) {
                            double ref = 0, mag = 0;
                            for (int c = 0; c < cols; c++) {
                                ref += (double) wf[r * cols + c] * x[b * cols + c];
                                mag += Math.abs((double) wf[r * cols + c] * x[b * cols + c]);
                            }
                            assertEquals(ref, y[b * stride + 1 + r], 1e-6 * mag + 1e-30, p + " cols " + cols + " batch " + batch + " row " + r);
                        }
                    }
                }
            }
        }
    }

    /**
     * The decode path widens f16 pairs without looking for infinities and NaNs, then checks each row for them: a row
     * holding one (in the vector part or in the scalar tail) must give what the plain loop gives, and the other rows
     * their float64 sums.
     */
    @Test
    void matVecOfF16RowsWithInfinitiesAndNaNsMatchesThePlainLoop() {
        SplittableRandom rnd = new SplittableRandom(13);
        int rows = 6, cols = 64 + 5;
        ByteBuffer w = random(rows * cols, Precision.F16, rnd);
        w.putShort((1 * cols + 3) * 2, (short) 0x7C00);          // +Inf, even element of the first block
        w.putShort((2 * cols + 40) * 2, (short) 0xFC00);         // -Inf, in the second block
        w.putShort((3 * cols + 17) * 2, (short) 0x7E00);         // NaN, odd element
        w.putShort((4 * cols + cols - 2) * 2, (short) 0x7C00);   // +Inf in the scalar tail
        w.putShort((5 * cols + 9) * 2, (short) 0x7BFF);          // 65504, the largest finite half: no fallback
        for (int batch = 1; batch <= 3; batch++) {
            float[] x = new float[batch * cols];
            for (int i = 0; i < x.length; i++) x[i] = 0.5f + (float) rnd.nextDouble();   // positive: the signs of the infinities survive
            float[] expected = new float[batch * rows];
            float[] y = new float[batch * rows];
            scalar.matVec(w, Precision.F16, cols, 0, rows, x, batch, expected, rows, 0);
            vector.matVec(w, Precision.F16, cols, 0, rows, x, batch, y, rows, 0);
            for (int i = 0; i < y.length; i++) {
                if (Float.isNaN(expected[i]) || Float.isInfinite(expected[i])) {
                    assertEquals(expected[i], y[i], "batch " + batch + " output " + i);
                } else {
                    assertEquals(expected[i], y[i], 1e-5f * Math.abs(expected[i]) + 1e-5f, "batch " + batch + " output " + i);
                }
            }
            assertEquals(Float.POSITIVE_INFINITY, y[1]);
            assertEquals(Float.NEGATIVE_INFINITY, y[2]);
            assertTrue(Float.isNaN(y[3]));
            assertEquals(Float.POSITIVE_INFINITY, y[4]);
            assertTrue(Math.abs(y[5]) > 30_000 && Float.isFinite(y[5]), "row 5 holds 65504 times at least 0.5: " + y[5]);
        }
    }

    @Test
    void dotAndAxpyAgreeWithFloat64() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int n : new int[]{0, 1, 7, 16, 31, 64, 1000}) {
            float[] a = new float[n + 3];
            float[] b = new float[n + 5];
            for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextGaussian();
            for (int i = 0; i < b.length; i++) b[i] = (float) rnd.nextGaussian();
            double ref = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                ref += (double) a[3 + i] * b[5 + i];
                mag += Math.abs((double) a[3 + i] * b[5 + i]);
            }
            assertEquals(ref, vector.dot(a, 3, b, 5, n), 1e-6 * mag + 1e-30, "dot n " + n);
            float[] y = b.clone();
            vector.axpy(0.5f, a, 3, y, 5, n);
            for (int i = 0; i < b.length; i++) {
                float expected = i >= 5 && i < 5 + n ? b[i] + 0.5f * a[3 + i - 5] : b[i];
                assertEquals(expected, y[i], 1e-6f, "axpy element " + i);
            }
        }
    }

    /**
     * Blocks of dot products for every shape class the kernel has (4×4 blocks, 4-row and 1-row remainders, column
     * remainders, vector tails) with row strides, output strides, scaling and accumulation, against float64.
     */
    @Test
    void dotsAgreeWithFloat64ForEveryBlockShape() {
        SplittableRandom rnd = new SplittableRandom(13);
        for (Kernels kernels : new Kernels[]{vector, scalar}) {
            for (int k : new int[]{1, 6, 16, 32, 47, 128, 256}) {
                for (int[] mn : new int[][]{{1, 1}, {3, 5}, {4, 4}, {7, 9}, {8, 13}, {28, 6}}) {
                    int m = mn[0], n = mn[1];
                    int aStride = k + 3, bStride = k + 5;
                    float[] a = gaussian(rnd, 2 + m * aStride);
                    float[] b = gaussian(rnd, 1 + n * bStride);
                    int oRow = 1, oCol = m + 2;           // the output transposed, as the MLA value projection writes it
                    float[] out = gaussian(rnd, 4 + n * oCol);
                    float[] before = out.clone();
                    for (boolean accumulate : new boolean[]{false, true}) {
                        System.arraycopy(before, 0, out, 0, out.length);
                        kernels.dots(a, 2, aStride, m, b, 1, bStride, n, k, 0.25f, accumulate, out, 4, oRow, oCol);
                        assertQuarterDots(kernels, a, aStride, b, bStride, m, n, k, before, out, oRow, oCol, accumulate);
                        for (int o = 0; o < 4; o++) assertEquals(before[o], out[o], "elements before the output stay untouched");
                    }
                }
            }
        }
    }

    /**
     * dots from the transposed form: pairs of vectors, an odd last vector, partial vectors (m not a multiple of the
     * lanes), blocks of 4 rows of b and single ones, with strides, gaps in the output and accumulation, against
     * float64; and the transposed form itself, padding included.
     */
    @Test
    void dotsTransposedAgreeWithFloat64ForEveryBlockShape() {
        SplittableRandom rnd = new SplittableRandom(19);
        for (Kernels kernels : new Kernels[]{vector, scalar}) {
            for (int k : new int[]{1, 6, 32, 47, 256}) {
                for (int[] mn : new int[][]{{1, 1}, {3, 5}, {7, 4}, {7, 21}, {16, 9}, {17, 3}, {28, 13}, {33, 8}, {40, 6}}) {
                    int m = mn[0], n = mn[1];
                    int aStride = k + 3, bStride = k + 5;
                    float[] a = gaussian(rnd, 2 + m * aStride);
                    float[] b = gaussian(rnd, 1 + n * bStride);
                    int s = kernels.transposedStride(m);
                    assertTrue(s >= m, "stride " + s + " holds the " + m + " rows");
                    float[] aT = gaussian(rnd, 5 + k * s);
                    kernels.transposeForDots(a, 2, aStride, m, k, 0.25f, aT, 5);
                    for (int c = 0; c < k; c++) {
                        for (int i = 0; i < s; i++) {
                            assertEquals(i < m ? 0.25f * a[2 + i * aStride + c] : 0f, aT[5 + c * s + i], "aT[" + c + "][" + i + "]");
                        }
                    }
                    int oRow = n + 3, oCol = 1;           // head-major with a gap after each row, as attention scores
                    float[] out = gaussian(rnd, 4 + m * oRow);
                    float[] before = out.clone();
                    for (boolean accumulate : new boolean[]{false, true}) {
                        System.arraycopy(before, 0, out, 0, out.length);
                        kernels.dotsTransposed(aT, 5, m, b, 1, bStride, n, k, accumulate, out, 4, oRow, oCol);
                        assertQuarterDots(kernels, a, aStride, b, bStride, m, n, k, before, out, oRow, oCol, accumulate);
                        for (int i = 0; i < m; i++) {
                            for (int g = n; g < oRow; g++) {
                                if (4 + i * oRow + g < out.length) assertEquals(before[4 + i * oRow + g], out[4 + i * oRow + g], "gap after row " + i);
                            }
                        }
                        for (int o = 0; o < 4; o++) assertEquals(before[o], out[o], "elements before the output stay untouched");
                    }
                }
            }
        }
    }

    /**
     * out[4 + i·oRow + j·oCol] = 0.25 · Σ_c a[2 + i·aStride + c]·b[1 + j·bStride + c] (+ before when accumulating), in
     * float64 to float32 summation-order error: what both dots tests ask of their kernels.
     */
    private static void assertQuarterDots(Kernels kernels, float[] a, int aStride, float[] b, int bStride, int m, int n, int k,
                                          float[] before, float[] out, int oRow, int oCol, boolean accumulate) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double ref = 0, mag = 0;
                for (int c = 0; c < k; c++) {
                    double t = (double) a[2 + i * aStride + c] * b[1 + j * bStride + c];
                    ref += t;
                    mag += Math.abs(t);
                }
                int o = 4 + i * oRow + j * oCol;
                double expected = 0.25 * ref + (accumulate ? before[o] : 0);
                assertEquals(expected, out[o], 1e-6 * (mag + Math.abs(before[o])) + 1e-30,
                        kernels.getClass().getSimpleName() + " k " + k + " m " + m + " n " + n + " (" + i + ", " + j + ")");
            }
        }
    }

    @Test
    void weightedRowsAgreeWithFloat64ForEveryBlockShape() {
        SplittableRandom rnd = new SplittableRandom(17);
        for (Kernels kernels : new Kernels[]{vector, scalar}) {
            for (int k : new int[]{1, 6, 16, 47, 64, 128, 256, 300}) {
                for (int[] mn : new int[][]{{1, 1}, {3, 5}, {4, 4}, {7, 9}, {28, 13}}) {
                    int m = mn[0], n = mn[1];
                    int pStride = n + 2, bStride = k + 3, oStride = k + 1;
                    float[] p = gaussian(rnd, 1 + m * pStride);
                    float[] b = gaussian(rnd, 2 + n * bStride);
                    float[] out = gaussian(rnd, 3 + m * oStride);
                    float[] before = out.clone();
                    kernels.weightedRows(p, 1, pStride, m, b, 2, bStride, n, k, out, 3, oStride);
                    for (int i = 0; i < m; i++) {
                        for (int c = 0; c < k; c++) {
                            double ref = before[3 + i * oStride + c], mag = Math.abs(ref);
                            for (int j = 0; j < n; j++) {
                                double t = (double) p[1 + i * pStride + j] * b[2 + j * bStride + c];
                                ref += t;
                                mag += Math.abs(t);
                            }
                            assertEquals(ref, out[3 + i * oStride + c], 1e-6 * mag + 1e-30,
                                    kernels.getClass().getSimpleName() + " k " + k + " m " + m + " n " + n + " (" + i + ", " + c + ")");
                        }
                    }
                    for (int o = 0; o < 3; o++) assertEquals(before[o], out[o], "elements before the output stay untouched");
                }
            }
        }
    }

    /** max, exp(x − shift) with its sum, scale and SiLU-gated products against Math in float64. */
    @Test
    void softmaxAndActivationLoopsAgreeWithFloat64() {
        SplittableRandom rnd = new SplittableRandom(19);
        for (Kernels kernels : new Kernels[]{vector, scalar}) {
            for (int n : new int[]{1, 7, 16, 33, 1000}) {
                float[] x = gaussian(rnd, n + 2);
                for (int i = 0; i < x.length; i++) x[i] *= 8;
                float max = Float.NEGATIVE_INFINITY;
                for (int i = 0; i < n; i++) max = Math.max(max, x[2 + i]);
                assertEquals(max, kernels.max(x, 2, n), "max n " + n);

                float[] e = x.clone();
                float sum = kernels.expShift(e, 2, n, max);
                double refSum = 0;
                for (int i = 0; i < n; i++) {
                    double ref = Math.exp((double) x[2 + i] - max);
                    refSum += ref;
                    assertEquals(ref, e[2 + i], 2e-6 * ref + 1e-30, "exp n " + n + " element " + i);
                }
                assertEquals(refSum, sum, 1e-5 * refSum, "exp sum n " + n);
                assertEquals(x[0], e[0], "elements before the range stay untouched");

                float[] s = x.clone();
                kernels.scale(-0.5f, s, 2, n);
                for (int i = 0; i < n; i++) assertEquals(-0.5f * x[2 + i], s[2 + i], "scale element " + i);

                float[] up = gaussian(rnd, n + 1);
                float[] out = new float[n + 3];
                kernels.siluMul(x, 2, up, 1, out, 3, n);
                for (int i = 0; i < n; i++) {
                    double g = x[2 + i];
                    double ref = g / (1 + Math.exp(-g)) * up[1 + i];
                    assertEquals(ref, out[3 + i], 2e-6 * Math.abs(ref) + 1e-30, "silu·up n " + n + " element " + i);
                }
            }
        }
        float[] big = new float[40];   // vector lanes and the scalar tail
        for (int i = 0; i < big.length; i++) big[i] = i % 2 == 0 ? -200f : 200f;
        float[] ones = new float[40];
        java.util.Arrays.fill(ones, 1f);
        float[] out = new float[40];
        vector.siluMul(big, 0, ones, 0, out, 0, 40);
        for (int i = 0; i < 40; i++) {
            assertEquals(i % 2 == 0 ? 0f : 200f, out[i], 0f, "silu(±200) at " + i + ": 0 for a large negative gate, not NaN");
        }
    }

    /** MKL's float64 pair terms against plain Math loops (vector lanes, the scalar tail and offsets). */
    @Test
    void pairKlTermsAgreeWithFloat64Loops() {
        SplittableRandom rnd = new SplittableRandom(23);
        for (Kernels kernels : new Kernels[]{vector, scalar}) {
            for (int n : new int[]{1, 7, 16, 33, 1000}) {
                double[] x = new double[n + 5];
                double[] y = new double[n + 3];
                double[] p = new double[n];
                for (int i = 0; i < x.length; i++) x[i] = rnd.nextGaussian();
                for (int i = 0; i < y.length; i++) y[i] = rnd.nextGaussian();
                for (int i = 0; i < n; i++) p[i] = rnd.nextDouble();
                double a = 0.7;
                double b = -1.3;
                double[] c = new double[n];
                double mean = kernels.combineAndWeigh(a, x, 5, b, y, 3, p, c, n);
                double refMean = 0;
                double scale = 0;
                for (int i = 0; i < n; i++) {
                    double ci = a * x[5 + i] + b * y[3 + i];
                    assertEquals(ci, c[i], 1e-15 * (1 + Math.abs(ci)), "c n " + n + " element " + i);
                    refMean += p[i] * ci;
                    scale += p[i] * Math.abs(ci);
                }
                assertEquals(refMean, mean, 1e-14 * scale, "Σ p c, n " + n);
                double z = kernels.expWeightedSum(p, c, n, 0.25);
                double refZ = 0;
                for (int i = 0; i < n; i++) refZ += p[i] * Math.exp(0.25 - c[i]);
                assertEquals(refZ, z, 1e-14 * refZ, "Σ p exp(shift − c), n " + n);
            }
        }
    }

    private static float[] gaussian(SplittableRandom rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }

    /** n random normal values stored in precision p (rounded to it), little-endian. */
    static ByteBuffer random(int n, Precision p, SplittableRandom rnd) {
        ByteBuffer b = ByteBuffer.allocateDirect(n * p.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            float v = (float) rnd.nextGaussian();
            switch (p) {
                case F32 -> b.putFloat(i * 4, v);
                case BF16 -> b.putShort(i * 2, (short) (Float.floatToRawIntBits(v) >>> 16));
                case F16 -> b.putShort(i * 2, toHalf(v));
            }
        }
        return b;
    }

    /** Truncating float → f16 for normal values in f16's range (test data only). */
    private static short toHalf(float v) {
        int bits = Float.floatToRawIntBits(v);
        int sign = (bits >>> 16) & 0x8000;
        int exp = ((bits >>> 23) & 0xFF) - 127 + 15;
        if (exp <= 0) return (short) sign;
        return (short) (sign | (exp << 10) | ((bits >>> 13) & 0x3FF));
    }
}
