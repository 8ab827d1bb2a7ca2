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
