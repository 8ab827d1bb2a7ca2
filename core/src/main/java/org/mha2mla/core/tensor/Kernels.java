package org.mha2mla.core.tensor;

import java.nio.ByteBuffer;

/**
 * The few loops the hot paths run outside ND4J, on little-endian buffers of stored weights (mapped safetensors or
 * ND4J's own memory) and on float arrays: widening 16-bit storage to float32, matrix-vector products that read a
 * weight in its stored precision, dot products and axpy, and the loops of a decode step's attention (blocks of dot
 * products, weighted row sums, the softmax's max and exponentials) and MLP (SwiGLU). ND4J has no fast kernel for
 * these (its per-op cost alone exceeds their work at decode sizes): a BFLOAT16 matrix-
 * vector product runs at about 1 GB/s there, and its float32 one through OpenBLAS at about half the memory bandwidth
 * (figures in {@code benchmarks/kernels/README.md}).
 *
 * <p>{@link #get()} returns the implementation on the Java Vector API ({@code jdk.incubator.vector}, which the JVM
 * must be started with: {@code --add-modules jdk.incubator.vector}) or, when that module is absent, a plain-loop
 * one with the same results up to float summation order, after one warning.
 */
public interface Kernels {

    /** dst[dstOffset + i] = the float32 value of element {@code srcIndex + i} of {@code src}, for i < n. */
    void widen(ByteBuffer src, long srcIndex, Precision precision, float[] dst, int dstOffset, int n);

    /** Like the array form, writing float32 elements {@code dstIndex …} of the little-endian buffer {@code dst}. */
    void widen(ByteBuffer src, long srcIndex, Precision precision, ByteBuffer dst, long dstIndex, int n);

    /**
     * For rows r in [rowFrom, rowTo) of the row-major matrix {@code w} (rows of {@code cols} elements stored from
     * element 0 of the buffer) and every batch row b < {@code batch}:
     * {@code y[b·yStride + yOffset + r] = Σ_c w[r, c] · x[b·cols + c]}.
     */
    void matVec(ByteBuffer w, Precision precision, int cols, int rowFrom, int rowTo,
                float[] x, int batch, float[] y, int yStride, int yOffset);

    /** Σ_i a[aOffset + i] · b[bOffset + i], i < n. */
    float dot(float[] a, int aOffset, float[] b, int bOffset, int n);

    /** y[yOffset + i] += alpha · x[xOffset + i], i < n. */
    void axpy(float alpha, float[] x, int xOffset, float[] y, int yOffset, int n);

    /**
     * Dot products of every row of {@code a} with every row of {@code b} (rows of {@code k} floats): for i < m, j < n,
     * {@code out[oOffset + i·oRow + j·oCol] = alpha · Σ_c a[aOffset + i·aStride + c] · b[bOffset + j·bStride + c]},
     * added to what {@code out} holds when {@code accumulate}. The attention scores of a decode step (a few query
     * heads against a tile of cached keys) and small products with widened weights.
     */
    void dots(float[] a, int aOffset, int aStride, int m, float[] b, int bOffset, int bStride, int n, int k,
              float alpha, boolean accumulate, float[] out, int oOffset, int oRow, int oCol);

    /**
     * Floats per row of the transposed form {@link #transposeForDots} writes for {@code m} rows of a: m rounded up to
     * whole vectors of the implementation (m itself for the plain loops).
     */
    int transposedStride(int m);

    /**
     * The transposed, scaled form of {@code a} that {@link #dotsTransposed} reads: {@code aT[aTOffset + c·s + i] =
     * alpha · a[aOffset + i·aStride + c]} for c < k and i < m, and 0 for m ≤ i < s, where s = {@link #transposedStride}(m).
     */
    default void transposeForDots(float[] a, int aOffset, int aStride, int m, int k, float alpha, float[] aT, int aTOffset) {
        int s = transposedStride(m);
        for (int c = 0; c < k; c++) {
            int row = aTOffset + c * s;
            for (int i = 0; i < m; i++) aT[row + i] = alpha * a[aOffset + i * aStride + c];
            java.util.Arrays.fill(aT, row + m, row + s, 0f);
        }
    }

    /**
     * {@link #dots} with {@code a} given in the form {@link #transposeForDots} writes (alpha applied there): for i < m and
     * j < n, {@code out[oOffset + i·oRow + j·oCol] = Σ_c aT[aTOffset + c·s + i] · b[bOffset + j·bStride + c]} (s =
     * {@link #transposedStride}(m)), added to what {@code out} holds when {@code accumulate}. The vectors run along the
     * m rows of a and each element of b is broadcast, so no sum is reduced across lanes as {@link #dots} must: for many
     * rows of a against long rows of b (the absorbed MLA query, 28 heads, against latent rows of 256 floats) this is the
     * faster form, and transposing a (m·k moves) pays off when a meets many rows of b (every slot of a cache).
     */
    void dotsTransposed(float[] aT, int aTOffset, int m, float[] b, int bOffset, int bStride, int n, int k,
                        boolean accumulate, float[] out, int oOffset, int oRow, int oCol);

    /**
     * Weighted sums of rows: for i < m and c < k, {@code out[oOffset + i·oStride + c] += Σ_j p[pOffset + i·pStride + j]
     * · b[bOffset + j·bStride + c]} over j < n. The attention-weighted values of a decode step (probabilities of a few
     * heads over a tile of cached rows).
     */
    void weightedRows(float[] p, int pOffset, int pStride, int m, float[] b, int bOffset, int bStride, int n, int k,
                      float[] out, int oOffset, int oStride);

    /** max_i x[offset + i], i < n (n ≥ 1). */
    float max(float[] x, int offset, int n);

    /** x[offset + i] = exp(x[offset + i] − shift) for i < n; returns the sum of the new values. */
    float expShift(float[] x, int offset, int n, float shift);

    /** x[offset + i] *= alpha, i < n. */
    void scale(float alpha, float[] x, int offset, int n);

    /** out[oOffset + i] = silu(gate[gOffset + i]) · up[uOffset + i] with silu(g) = g·σ(g) = g / (1 + e^−g), i < n (SwiGLU). */
    void siluMul(float[] gate, int gOffset, float[] up, int uOffset, float[] out, int oOffset, int n);

    /**
     * The pair terms of MKL's attention KL (float64, see {@code KlScorer}): {@code c[i] = a·x[xOffset + i] +
     * b·y[yOffset + i]} for i < n, returning Σ_i p[i]·c[i].
     */
    double combineAndWeigh(double a, double[] x, int xOffset, double b, double[] y, int yOffset, double[] p, double[] c, int n);

    /** Σ_i p[i]·exp(shift − c[i]) for i < n (float64). */
    double expWeightedSum(double[] p, double[] c, int n, double shift);

    /** The Vector API implementation when {@code jdk.incubator.vector} is present, else the plain loops. */
    static Kernels get() {
        return Holder.INSTANCE;
    }

    /** Whether {@link #get()} is the Vector API implementation. */
    static boolean vectorized() {
        return !(Holder.INSTANCE instanceof ScalarKernels);
    }

    /** Lazily chooses the implementation once per JVM. */
    final class Holder {
        static final Kernels INSTANCE = choose();

        private Holder() {
        }

        private static Kernels choose() {
            if (ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()) {
                try {
                    return (Kernels) Class.forName("org.mha2mla.core.tensor.VectorKernels").getDeclaredConstructor().newInstance();
                } catch (ReflectiveOperationException | LinkageError e) {
                    System.err.println("mha2mla: warning: the Vector API kernels could not be loaded (" + e + "); using plain loops");
                    return new ScalarKernels();
                }
            }
            System.err.println("mha2mla: warning: the JVM runs without --add-modules jdk.incubator.vector, so weight "
                    + "matrix-vector products (decoding) use plain loops, several times slower");
            return new ScalarKernels();
        }
    }
}
