package org.mha2mla.core.linalg;

import static org.bytedeco.openblas.global.openblas.LAPACKE_dpotrf;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dsyevd;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dsyevr;
import static org.bytedeco.openblas.global.openblas.LAPACKE_ssyevr;
import static org.bytedeco.openblas.global.openblas.LAPACK_COL_MAJOR;
import static org.bytedeco.openblas.global.openblas.CblasLeft;
import static org.bytedeco.openblas.global.openblas.CblasLower;
import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasNonUnit;
import static org.bytedeco.openblas.global.openblas.CblasRight;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.CblasUpper;
import static org.bytedeco.openblas.global.openblas.cblas_dsyrk;
import static org.bytedeco.openblas.global.openblas.cblas_dtrmm;
import static org.bytedeco.openblas.global.openblas.cblas_ssymm;
import static org.bytedeco.openblas.global.openblas.cblas_ssyrk;
import static org.bytedeco.openblas.global.openblas.cblas_strmm;


import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.CholeskyDecomposition;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.NonPositiveDefiniteMatrixException;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.nd4j.linalg.api.blas.Lapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The one place where the project calls eigen, Cholesky and singular value decompositions: float64, through
 * LAPACK — OpenBLAS's LAPACKE (dsyevd, dsyevr, dpotrf: the library nd4j-native is built on) and ND4J's LAPACK
 * binding ({@code Nd4j.getBlasWrapper().lapack()}: dgesvd, dgeqrf).
 *
 * <p>Never ND4J's {@code svd} custom op: it returns wrong factors on CPU for matrices with 16 rows or
 * more. Facts measured on nd4j-native 1.0.0-M2.1 (OpenBLAS 0.3.19): the ND4J LAPACK wrapper accepts float
 * and double, 'c' and 'f' order alike (the CPU backend passes LAPACK_ROW_MAJOR for 'c' arrays), and
 * overwrites its input in place; this class always hands LAPACK a private column-major float64 copy, so
 * callers' arrays and views are never touched. Eigenvalues come back ascending and are flipped to descending
 * here. Speed on 2 cores (AMD EPYC, AVX-512), 4096 × 4096: ND4J's {@code syev} (dsyev, QR iteration) 66 s,
 * dsyevd (divide and conquer) 8.3 s, dsyevr for the top 512 pairs 5.0 s, dpotrf 1.2 s; hence dsyevd for
 * {@link #eigh}, dsyevr for {@link #eighTop}. dgesvd is slow in that build (1024², full U and V: 20 s; 2048²:
 * 150 s): it is used only on matrices whose small side is at most {@value #GESVD_MAX_DIM}, eigen-decompositions
 * of Gram matrices above that.
 *
 * <p>Precision: float64 unless a caller passes {@code DataType.FLOAT} to
 * {@link #timesLowerTriangular(INDArray, INDArray, DataType)}, {@link #gram(INDArray, DataType)} or
 * {@link #eighTopOfGram}: the same BLAS/LAPACK routines in single precision (strmm, ssyrk, ssyevr), for MD-SVD at 7B
 * widths, where float64 takes 2–3× the time (4096², top 512 pairs: ssyevr 1.5–2.1 s, dsyevr 4.4 s) and the authors'
 * reference itself computes in float32. Their results are checked as the float64 ones are, against
 * {@value #FLOAT_CHECK_TOLERANCE}.
 *
 * <p>Signs are made deterministic: every eigenvector (and every left singular vector) has its
 * largest-magnitude component positive, so results do not depend on the LAPACK build.
 *
 * <p>Every LAPACK result is checked before it is used (residual and orthonormality, a few gemms: cheap next to
 * the factorisation). The OpenBLAS 0.3.19 inside nd4j-native M2.1 returns wrong dsyev / dgesvd factors on
 * CPUs where it picks its SkylakeX (AVX-512) kernels — measured: eigenvectors of a 200×200 matrix with
 * ||VᵀV − I|| = 52, while gemm is exact. A failed check makes this class print one warning and use
 * commons-math (correct, slower on large matrices) for the rest of the process; {@code OPENBLAS_CORETYPE=Haswell}
 * in the environment selects kernels that are right (and makes gemm ~15% slower on such CPUs).
 */
public final class LinearAlgebra {

    /** Largest min(m, n) for which {@link #svd} uses dgesvd; above it the Gram-matrix route is taken. */
    public static final int GESVD_MAX_DIM = 256;

    /** Largest accepted relative residual / orthonormality defect of a float64 factorisation (correct ones: ~1e-14). */
    static final double CHECK_TOLERANCE = 1e-8;

    /** The same for a float32 factorisation (correct ones: ~1e-6; the wrong AVX-512 ones below: O(1)). */
    static final double FLOAT_CHECK_TOLERANCE = 1e-3;

    /** Set once LAPACK returned a wrong factorisation in this process. */
    private static volatile boolean lapackDistrusted;

    private LinearAlgebra() {
    }

    /** A float64 copy (or the array itself when it already is float64). */
    public static INDArray toDouble(INDArray a) {
        return a.dataType() == DataType.DOUBLE ? a : a.castTo(DataType.DOUBLE);
    }

    /**
     * Eigen-decomposition of a symmetric matrix (LAPACK dsyevd on (A + Aᵀ)/2): eigenvalues descending,
     * eigenvectors as columns.
     */
    public static SymmetricEigen eigh(INDArray symmetric) {
        requireSquare(symmetric, "eigh");
        int n = (int) symmetric.rows();
        INDArray work = symmetrised(symmetric, "eigh input");
        if (lapackDistrusted) {
            return eighByCommonsMath(work);
        }
        double[] a = work.data().asDouble(); // column-major; overwritten by the eigenvectors
        double[] wAsc = new double[n];
        int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, (byte) 'V', (byte) 'U', n, a, n, wAsc);
        if (info != 0) {
            throw new ArithmeticException("LAPACK dsyevd failed (info=" + info + ") on a " + n + "x" + n + " matrix");
        }
        SymmetricEigen eig = descending(wAsc, a, n, n);
        double defect = eigenDefect(work, eig.vectors(), eig.valuesArray());
        if (!(defect <= CHECK_TOLERANCE)) {
            distrustLapack("dsyevd", n + "x" + n, defect);
            return eighByCommonsMath(work);
        }
        normaliseColumnSigns(eig.vectors(), null);
        return eig;
    }

    /**
     * The k largest eigenpairs of a symmetric matrix (LAPACK dsyevr, range by index, on (A + Aᵀ)/2): values
     * [k] descending, vectors [n, k]. The tridiagonal reduction is the same as for all pairs; the saving is the
     * back-transformation of n − k vectors (4096², k = 512: 5.0 s instead of 8.3 s).
     */
    public static SymmetricEigen eighTop(INDArray symmetric, int k) {
        requireSquare(symmetric, "eighTop");
        int n = (int) symmetric.rows();
        if (k < 1 || k > n) {
            throw new IllegalArgumentException("eighTop: k " + k + " outside [1, " + n + "]");
        }
        INDArray work = symmetrised(symmetric, "eighTop input");
        if (lapackDistrusted) {
            return leading(eighByCommonsMath(work), k);
        }
        double[] a = work.data().asDouble(); // column-major; destroyed by dsyevr
        double[] wAsc = new double[n];
        double[] z = new double[n * k];
        int[] found = new int[1];
        int[] support = new int[2 * k];
        int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, (byte) 'V', (byte) 'I', (byte) 'U', n, a, n, 0, 0, n - k + 1, n,
                0.0, found, wAsc, z, n, support);
        if (info != 0 || found[0] != k) {
            throw new ArithmeticException("LAPACK dsyevr failed (info=" + info + ", " + found[0] + " of " + k
                    + " pairs) on a " + n + "x" + n + " matrix");
        }
        SymmetricEigen eig = descending(wAsc, z, n, k);
        double defect = eigenDefect(work, eig.vectors(), eig.valuesArray());
        if (!(defect <= CHECK_TOLERANCE)) {
            distrustLapack("dsyevr", n + "x" + n, defect);
            return leading(eighByCommonsMath(work), k);
        }
        normaliseColumnSigns(eig.vectors(), null);
        return eig;
    }

    /**
     * The k largest eigenpairs of AᵀA for A [rows, d]: {@code eighTop(gram(a), k)} in float64, or the same in float32
     * (ssyrk, ssyevr; values returned as float64, vectors as float32). In float32 the Gram matrix goes from ssyrk to
     * ssyevr as the one triangle both read, without the copies that fill and symmetrise the other (0.3–0.4 s at
     * 4096²), and the result is checked with ssymm.
     */
    public static SymmetricEigen eighTopOfGram(INDArray a, int k, DataType precision) {
        requireMatrix(a, "eighTopOfGram");
        int n = (int) a.columns();
        if (k < 1 || k > n) {
            throw new IllegalArgumentException("eighTopOfGram: k " + k + " outside [1, " + n + "]");
        }
        if (requirePrecision(precision) == DataType.DOUBLE || lapackDistrusted) {
            return precision == DataType.DOUBLE ? eighTop(gram(a), k) : asFloatVectors(eighTop(gram(a), k));
        }
        INDArray x = a.castTo(DataType.FLOAT);
        if (x.ordering() != 'c' || x.isView()) {
            x = x.dup('c');
        }
        int rows = (int) x.rows();
        // row-major upper triangle = column-major lower triangle: what ssyevr is told to read
        INDArray g = Nd4j.createUninitialized(DataType.FLOAT, new long[] {n, n}, 'c');
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n, rows, 1f, floatPointer(x), n, 0f, floatPointer(g), n);
        boolean finite = true;
        FloatBuffer diagonal = g.data().asNioFloat();
        for (int i = 0; i < n; i++) {
            finite &= Float.isFinite(diagonal.get(i * n + i)); // a NaN or Inf in A reaches the diagonal
        }
        requireFinite(finite, "eighTopOfGram input", n);
        INDArray kept = g.dup('c'); // ssyevr destroys g
        INDArray z = Nd4j.createUninitialized(DataType.FLOAT, new long[] {n, k}, 'f');
        FloatPointer wAsc = new FloatPointer(n);
        IntPointer found = new IntPointer(1);
        IntPointer support = new IntPointer(2L * k);
        int info = LAPACKE_ssyevr(LAPACK_COL_MAJOR, (byte) 'V', (byte) 'I', (byte) 'L', n, floatPointer(g), n, 0f, 0f,
                n - k + 1, n, 0f, found, wAsc, floatPointer(z), n, support);
        if (info != 0 || found.get() != k) {
            throw new ArithmeticException("LAPACK ssyevr failed (info=" + info + ", " + found.get() + " of " + k
                    + " pairs) on a " + n + "x" + n + " matrix");
        }
        double[] values = new double[k];
        INDArray vectors = descendingSignedVectors(z, wAsc, n, k, values);
        // ‖G·V − V·diag(λ)‖ / ‖G‖ with G·V from the kept triangle (ssymm) and ‖G‖_F from it as well
        INDArray gv = Nd4j.createUninitialized(DataType.FLOAT, new long[] {n, k}, 'c');
        cblas_ssymm(CblasRowMajor, CblasLeft, CblasUpper, n, k, 1f, floatPointer(kept), n, floatPointer(vectors), k, 0f,
                floatPointer(gv), k);
        double residual = gv.subi(vectors.mulRowVector(Nd4j.createFromArray(values).castTo(DataType.FLOAT))).norm2Number().doubleValue();
        double defect = Math.max(residual / Math.max(symmetricNorm(kept, n), Double.MIN_NORMAL), orthonormalityDefect(vectors));
        for (INDArray t : new INDArray[] {g, kept, z, gv}) t.close(); // n × n work arrays, freed now rather than at a GC
        if (!(defect <= FLOAT_CHECK_TOLERANCE)) {
            distrustLapack("ssyevr", n + "x" + n, defect);
            return asFloatVectors(eighTop(gram(a, DataType.DOUBLE), k));
        }
        return new SymmetricEigen(Nd4j.createFromArray(values), vectors);
    }

    /** ‖G‖_F of a symmetric G from the upper triangle of its row-major buffer (float64 sum). */
    private static double symmetricNorm(INDArray g, int n) {
        float[] row = new float[n];
        FloatBuffer b = g.data().asNioFloat();
        double sum = 0;
        for (int i = 0; i < n; i++) {
            b.get(i * n, row);
            sum += (double) row[i] * row[i];
            for (int j = i + 1; j < n; j++) {
                sum += 2.0 * row[j] * row[j];
            }
        }
        return Math.sqrt(sum);
    }

    /**
     * ssyevr's ascending column-major vectors z [n, ≥k] → row-major [n, k] in descending order, each column's
     * largest-magnitude entry positive (as {@link #normaliseColumnSigns}); {@code values} receives the eigenvalues.
     */
    private static INDArray descendingSignedVectors(INDArray z, FloatPointer wAsc, int n, int k, double[] values) {
        float[] zs = new float[n * k];
        z.data().asNioFloat().get(zs);
        float[] v = new float[n * k];
        for (int c = 0; c < k; c++) {
            int from = (k - 1 - c) * n;
            values[c] = wAsc.get(k - 1 - c);
            int argmax = 0;
            for (int i = 1; i < n; i++) {
                if (Math.abs(zs[from + i]) > Math.abs(zs[from + argmax])) argmax = i;
            }
            float sign = zs[from + argmax] < 0 ? -1f : 1f;
            for (int i = 0; i < n; i++) {
                v[i * k + c] = sign * zs[from + i];
            }
        }
        INDArray vectors = Nd4j.createUninitialized(DataType.FLOAT, new long[] {n, k}, 'c');
        vectors.data().asNioFloat().put(v);
        return vectors;
    }

    private static SymmetricEigen asFloatVectors(SymmetricEigen eig) {
        return new SymmetricEigen(eig.values(), eig.vectors().castTo(DataType.FLOAT));
    }

    /**
     * The lower Cholesky factor L of a symmetric positive definite matrix, A = L·Lᵀ (LAPACK dpotrf on (A + Aᵀ)/2),
     * or null when A is not positive definite to working precision.
     */
    public static INDArray choleskyLower(INDArray spd) {
        return choleskyLower(spd, 0);
    }

    /**
     * The lower Cholesky factor L of (A + Aᵀ)/2 + δI (δ = {@code ridge}, as {@link #regularize} adds it), or null when
     * that matrix is not positive definite to working precision. The ridge goes on in the one pass that prepares LAPACK's
     * input, so the ridged copy {@link #regularize} makes is not needed.
     */
    public static INDArray choleskyLower(INDArray spd, double ridge) {
        requireSquare(spd, "choleskyLower");
        if (!(ridge >= 0)) {
            throw new IllegalArgumentException("choleskyLower: the ridge must be >= 0, got " + ridge);
        }
        int n = (int) spd.rows();
        if (lapackDistrusted) {
            return choleskyByCommonsMath(plusRidge(symmetrised(spd, "choleskyLower input"), ridge));
        }
        // dpotrf in place on the lower triangle of a fresh column-major copy, whose upper triangle is already zero (dpotrf
        // does not touch it), checked against the input. At 4096² each pass over 128 MB (a Java array, a dup, JavaCPP's
        // copies) cost 0.1–0.3 s; this is one (benchmarks/scale: MD-SVD of a LLaVA-1.5-7B layer).
        INDArray l = lowerTriangleForLapack(spd, ridge);
        int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, (byte) 'L', n, pointer(l), n);
        if (info > 0) {
            return null; // leading minor `info` is not positive
        }
        if (info < 0) {
            throw new ArithmeticException("LAPACK dpotrf rejected argument " + (-info) + " for a " + n + "x" + n + " matrix");
        }
        double defect = choleskyDefect(spd, ridge, l);
        if (!(defect <= CHECK_TOLERANCE)) {
            distrustLapack("dpotrf", n + "x" + n, defect);
            return choleskyByCommonsMath(plusRidge(symmetrised(spd, "choleskyLower input"), ridge));
        }
        return l;
    }

    /**
     * A fresh column-major float64 array with (A + Aᵀ)/2 + δI below and on the diagonal and zeros above, read straight
     * from A's buffer (no heap copy), checked to be finite. The diagonal is A's own: (a + a)/2 = a exactly, so the result
     * equals {@link #symmetrised} of {@link #regularize}d A on and below the diagonal, bit for bit.
     */
    private static INDArray lowerTriangleForLapack(INDArray a, double ridge) {
        int n = (int) a.rows();
        INDArray dense = a.dataType() == DataType.DOUBLE && a.ordering() == 'c' && !a.isView() ? a : a.castTo(DataType.DOUBLE).dup('c');
        DoubleBuffer x = dense.data().asNioDouble();
        INDArray out = Nd4j.createUninitialized(DataType.DOUBLE, new long[] {n, n}, 'f');
        DoubleBuffer o = out.data().asNioDouble();
        boolean finite = true;
        double[][] columns = new double[BLOCK][n];
        for (int jb = 0; jb < n; jb += BLOCK) {
            int jEnd = Math.min(jb + BLOCK, n);
            for (int ib = jb; ib < n; ib += BLOCK) {
                int iEnd = Math.min(ib + BLOCK, n);
                // the tile's rows i ∈ [ib, iEnd) of columns j ∈ [jb, jEnd), i ≥ j: two 64 × 64 tiles of A in cache
                for (int j = jb; j < jEnd; j++) {
                    double[] column = columns[j - jb];
                    for (int i = Math.max(ib, j); i < iEnd; i++) {
                        double v = (x.get(i * n + j) + x.get(j * n + i)) * 0.5;
                        finite &= Double.isFinite(v);
                        column[i] = v;
                    }
                }
            }
            for (int j = jb; j < jEnd; j++) {
                double[] column = columns[j - jb];
                column[j] += ridge;
                Arrays.fill(column, 0, j, 0.0);
                o.put(j * n, column, 0, n); // zeros above the diagonal, then rows j … n − 1
            }
        }
        requireFinite(finite, "choleskyLower input", n);
        return out;
    }

    /** A + δI in place (a fresh copy: {@link #regularize}'s, or a symmetrised one). */
    private static INDArray plusRidge(INDArray a, double ridge) {
        for (int i = 0; i < a.rows(); i++) {
            a.putScalar(i, i, a.getDouble(i, i) + ridge);
        }
        return a;
    }

    /** The same decomposition by commons-math (tridiagonalisation + implicit QL, float64). */
    static SymmetricEigen eighByCommonsMath(INDArray symmetric) {
        int n = (int) symmetric.rows();
        EigenDecomposition e = new EigenDecomposition(new Array2DRowRealMatrix(symmetric.toDoubleMatrix(), false));
        double[] raw = e.getRealEigenvalues();
        int[] order = descendingOrder(raw);
        double[] values = new double[n];
        double[][] columns = new double[n][n];
        for (int j = 0; j < n; j++) {
            values[j] = raw[order[j]];
            double[] v = e.getEigenvector(order[j]).toArray();
            for (int i = 0; i < n; i++) {
                columns[i][j] = v[i];
            }
        }
        INDArray vectors = Nd4j.createFromArray(columns);
        normaliseColumnSigns(vectors, null);
        return new SymmetricEigen(Nd4j.createFromArray(values), vectors);
    }

    /** max(||A·V − V·diag(λ)||_F / ||A||_F, ||VᵀV − I||_F / √n): 0 for an exact decomposition. */
    static double eigenDefect(INDArray a, INDArray vectors, double[] values) {
        INDArray residual = a.mmul(vectors).subi(vectors.mulRowVector(Nd4j.createFromArray(values).castTo(vectors.dataType())));
        double scale = Math.max(a.norm2Number().doubleValue(), Double.MIN_NORMAL);
        return Math.max(residual.norm2Number().doubleValue() / scale, orthonormalityDefect(vectors));
    }

    /** (A + Aᵀ)/2 as a fresh column-major float64 array, checked to be finite. */
    private static INDArray symmetrised(INDArray a, String what) {
        // LAPACK reads one triangle only: symmetrising first makes the result independent of which one, and
        // absorbs the last-bit asymmetry of XᵀX products computed by gemm. Blocked loops, because ND4J's add of a
        // transposed view takes 0.8 s at 4096² (the loop: ~0.1 s).
        int n = (int) a.rows();
        double[] x = (a.ordering() == 'c' && !a.isView() ? a : a.dup('c')).data().asDouble();
        double[] out = new double[x.length];
        boolean finite = true;
        for (int ib = 0; ib < n; ib += BLOCK) {
            for (int jb = 0; jb < n; jb += BLOCK) {
                for (int i = ib; i < Math.min(ib + BLOCK, n); i++) {
                    for (int j = jb; j < Math.min(jb + BLOCK, n); j++) {
                        double v = (x[i * n + j] + x[j * n + i]) * 0.5;
                        finite &= Double.isFinite(v);
                        out[j * n + i] = v;
                    }
                }
            }
        }
        requireFinite(finite, what, n);
        return Nd4j.create(out, new long[] {n, n}, 'f');
    }

    /** Tile edge of the transposing loops: two 64 × 64 float64 tiles fit in L1. */
    private static final int BLOCK = 64;

    /** LAPACK's ascending eigenvalues and column-major [n, k] eigenvectors, reordered descending ('c' order). */
    private static SymmetricEigen descending(double[] wAsc, double[] columnMajorVectors, int n, int k) {
        double[] values = new double[k];
        for (int i = 0; i < k; i++) {
            values[i] = wAsc[k - 1 - i];
        }
        int[] reversed = IntStream.range(0, k).map(i -> k - 1 - i).toArray();
        INDArray vectors = Nd4j.create(columnMajorVectors, new long[] {n, k}, 'f').getColumns(reversed).dup('c');
        return new SymmetricEigen(Nd4j.createFromArray(values), vectors);
    }

    /** The first k pairs of a full decomposition. */
    private static SymmetricEigen leading(SymmetricEigen all, int k) {
        int[] first = IntStream.range(0, k).toArray();
        return new SymmetricEigen(Nd4j.createFromArray(Arrays.copyOf(all.valuesArray(), k)), all.vectors().getColumns(first).dup('c'));
    }

    /** Cholesky by commons-math, or null when A is not positive definite. */
    static INDArray choleskyByCommonsMath(INDArray spd) {
        try {
            CholeskyDecomposition c = new CholeskyDecomposition(new Array2DRowRealMatrix(spd.toDoubleMatrix(), false), 1e-8, 0.0);
            return Nd4j.createFromArray(c.getL().getData());
        } catch (NonPositiveDefiniteMatrixException e) {
            return null;
        }
    }

    /**
     * ||L·Lᵀ·X − (½(A + Aᵀ) + δI)·X||_F / (||A||_F·||X||_F) for four random probe vectors X: the backward error of the
     * factorisation (~1e-16 for a correct one), at O(n²) instead of the O(n³) of forming L·Lᵀ.
     */
    static double choleskyDefect(INDArray a, double ridge, INDArray l) {
        INDArray x = Nd4j.rand(DataType.DOUBLE, a.rows(), 4).subi(0.5);
        INDArray xl = x.castTo(l.dataType());
        INDArray ad = toDouble(a);
        // against the matrix LAPACK was given, without forming it
        INDArray given = ad.mmul(x).addi(ad.transpose().mmul(x)).muli(0.5).addi(x.mul(ridge));
        INDArray residual = toDouble(l.mmul(l.transpose().mmul(xl))).subi(given);
        double scale = Math.max(a.norm2Number().doubleValue() * x.norm2Number().doubleValue(), Double.MIN_NORMAL);
        return residual.norm2Number().doubleValue() / scale;
    }

    /** ||QᵀQ − I||_F / √k for the k columns of q. */
    static double orthonormalityDefect(INDArray q) {
        long k = q.columns();
        INDArray gram = q.transpose().mmul(q).subi(Nd4j.eye(k).castTo(q.dataType()));
        return gram.norm2Number().doubleValue() / Math.sqrt(Math.max(k, 1));
    }

    private static void distrustLapack(String routine, String shape, double defect) {
        if (!lapackDistrusted) {
            lapackDistrusted = true;
            System.err.printf(java.util.Locale.ROOT, "mha2mla: warning: LAPACK %s returned a wrong factorisation of a %s matrix "
                    + "(defect %.2g; OpenBLAS's AVX-512 kernels in nd4j-native M2.1 do this on some CPUs): using commons-math "
                    + "for the rest of this run (slower on large matrices; OPENBLAS_CORETYPE=Haswell avoids it)%n", routine, shape, defect);
        }
    }

    /**
     * Thin SVD A = U·diag(s)·Vᵀ with k = min(m, n) triplets: dgesvd (after a QR of the tall side) when
     * k ≤ {@value #GESVD_MAX_DIM}, else the eigen-decomposition of the k×k Gram matrix followed by a QR
     * re-orthonormalisation of U (relative reconstruction error ≈ machine ε · condition number).
     */
    public static Svd svd(INDArray a) {
        requireMatrix(a, "svd");
        INDArray x = toDouble(a);
        requireFinite(x, "svd input");
        if (x.rows() < x.columns()) {
            Svd t = svd(x.transpose());
            return new Svd(t.v(), t.s(), t.u());
        }
        return x.columns() <= GESVD_MAX_DIM ? svdByGesvd(x) : svdByGram(x);
    }

    /**
     * The leading {@code rank} singular triplets, from the eigen-decomposition of the smaller Gram
     * matrix (AᵀA or AAᵀ). Accurate for kept singular values well above √ε·σ_max (the Gram matrix
     * squares the condition number); falls back to {@link #svd} when a kept value is below that.
     */
    public static Svd truncatedSvd(INDArray a, int rank) {
        requireMatrix(a, "truncatedSvd");
        int k = (int) Math.min(a.rows(), a.columns());
        if (rank < 1 || rank > k) {
            throw new IllegalArgumentException("truncatedSvd: rank " + rank + " outside [1, " + k + "] for shape "
                    + Arrays.toString(a.shape()));
        }
        INDArray x = toDouble(a);
        requireFinite(x, "truncatedSvd input");
        if (x.rows() < x.columns()) {
            Svd t = truncatedSvd(x.transpose(), rank);
            return new Svd(t.v(), t.s(), t.u());
        }
        SymmetricEigen eig = eigh(x.transpose().mmul(x));
        double[] lambda = eig.valuesArray();
        double lambdaMax = Math.max(lambda[0], 0);
        // Below this the Gram route has lost too many digits to give a trustworthy singular vector.
        double trust = lambdaMax * 1e-12;
        if (lambda[rank - 1] <= trust) {
            return svd(x).truncate(rank);
        }
        int[] kept = IntStream.range(0, rank).toArray();
        INDArray v = eig.vectors().getColumns(kept);
        INDArray b = x.mmul(v);
        // σ_i = ||A v_i|| is more accurate than sqrt(λ_i): its error is ε·σ_max, not ε·σ_max²/σ_i.
        INDArray s = b.norm2(0);
        INDArray u = b.divRowVector(s);
        normaliseColumnSigns(u, v);
        return new Svd(u, s, v);
    }

    /**
     * AᵀA [d, d] of A [rows, d] in float64, both triangles filled: BLAS dsyrk, which forms one triangle and so does
     * half the arithmetic of the gemm {@code a.transpose().mmul(a)} (rows·d² instead of 2·rows·d² flops; 120 GFLOP
     * saved for a 7,168 × 4,096 weight).
     */
    public static INDArray gram(INDArray a) {
        return gram(a, DataType.DOUBLE);
    }

    /** {@link #gram(INDArray)} computed and returned in {@code precision}: DOUBLE (dsyrk) or FLOAT (ssyrk). */
    public static INDArray gram(INDArray a, DataType precision) {
        requireMatrix(a, "gram");
        INDArray x = a.castTo(requirePrecision(precision));
        if (x.ordering() != 'c' || x.isView()) {
            x = x.dup('c');
        }
        int rows = (int) x.rows();
        int d = (int) x.columns();
        INDArray full = Nd4j.zeros(precision, d, d);
        if (precision == DataType.FLOAT) {
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, d, rows, 1f, floatPointer(x), d, 0f, floatPointer(full), d);
            FloatBuffer c = full.data().asNioFloat();
            mirrorUpperTriangle(d, (from, to) -> c.put(to, c.get(from)));
        } else {
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, rows, 1.0, pointer(x), d, 0.0, pointer(full), d);
            DoubleBuffer c = full.data().asNioDouble();
            mirrorUpperTriangle(d, (from, to) -> c.put(to, c.get(from)));
        }
        return full;
    }

    /** Copies element {@code from} of a buffer to element {@code to}. */
    private interface ElementCopy {
        void copy(int from, int to);
    }

    /** Fills the lower triangle of a row-major d × d buffer from its upper one (what a syrk formed), in cache tiles. */
    private static void mirrorUpperTriangle(int d, ElementCopy copy) {
        for (int ib = 0; ib < d; ib += BLOCK) {
            for (int jb = ib; jb < d; jb += BLOCK) {
                for (int i = ib; i < Math.min(ib + BLOCK, d); i++) {
                    for (int j = Math.max(jb, i + 1); j < Math.min(jb + BLOCK, d); j++) {
                        copy.copy(i * d + j, j * d + i);
                    }
                }
            }
        }
    }

    /**
     * A·L [rows, d] for A [rows, d] and a lower-triangular L [d, d] (entries above the diagonal are not read), in
     * float64: BLAS dtrmm, half the arithmetic of the gemm {@code a.mmul(l)}.
     */
    public static INDArray timesLowerTriangular(INDArray a, INDArray lower) {
        return timesLowerTriangular(a, lower, DataType.DOUBLE);
    }

    /** {@link #timesLowerTriangular(INDArray, INDArray)} computed and returned in {@code precision} (dtrmm or strmm). */
    public static INDArray timesLowerTriangular(INDArray a, INDArray lower, DataType precision) {
        requireMatrix(a, "timesLowerTriangular");
        requireSquare(lower, "timesLowerTriangular");
        if (a.columns() != lower.rows()) {
            throw new IllegalArgumentException("timesLowerTriangular: A " + Arrays.toString(a.shape()) + " and L "
                    + Arrays.toString(lower.shape()) + " do not chain");
        }
        INDArray b = a.castTo(requirePrecision(precision)).dup('c'); // overwritten with the product
        INDArray l = lower.castTo(precision);
        // a column-major L is the row-major Lᵀ: B·L = B·(Lᵀ)ᵀ reads it without a transposing copy
        boolean columnMajor = l.ordering() == 'f' && !l.isView();
        if (!columnMajor) {
            l = l.dup('c');
        }
        int uplo = columnMajor ? CblasUpper : CblasLower;
        int trans = columnMajor ? CblasTrans : CblasNoTrans;
        int rows = (int) b.rows();
        int d = (int) b.columns();
        if (precision == DataType.FLOAT) {
            cblas_strmm(CblasRowMajor, CblasRight, uplo, trans, CblasNonUnit, rows, d, 1f, floatPointer(l), d, floatPointer(b), d);
            return b;
        }
        cblas_dtrmm(CblasRowMajor, CblasRight, uplo, trans, CblasNonUnit, rows, d, 1.0, pointer(l), d, pointer(b), d);
        return b;
    }

    /** The native float64 buffer of a dense array with no offset (as {@code dup('c')} returns it), for CBLAS. */
    private static DoublePointer pointer(INDArray dense) {
        return new DoublePointer(dense.data().addressPointer());
    }

    private static FloatPointer floatPointer(INDArray dense) {
        return new FloatPointer(dense.data().addressPointer());
    }

    private static DataType requirePrecision(DataType precision) {
        if (precision != DataType.DOUBLE && precision != DataType.FLOAT) {
            throw new IllegalArgumentException("precision must be DOUBLE or FLOAT, got " + precision);
        }
        return precision;
    }


    /** S + eps·mean(diag(S))·I: the ridge used before inverting square roots of covariances. */
    public static INDArray regularize(INDArray psd, double eps) {
        requireSquare(psd, "regularize");
        if (eps < 0 || Double.isNaN(eps)) {
            throw new IllegalArgumentException("regularize: eps must be >= 0, got " + eps);
        }
        INDArray s = toDouble(psd).dup();
        return plusRidge(s, ridge(s, eps));
    }

    /** The ridge eps·mean(diag(S)) that {@link #regularize} adds to the diagonal. */
    public static double ridge(INDArray psd, double eps) {
        requireSquare(psd, "ridge");
        return eps * meanDiagonal(psd);
    }

    /** mean(diag(S)) of a square matrix. */
    public static double meanDiagonal(INDArray square) {
        requireSquare(square, "meanDiagonal");
        int n = (int) square.rows();
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += square.getDouble(i, i);
        }
        return n == 0 ? 0 : sum / n;
    }

    /** (S + eps·mean(diag S)·I)^{-1/2} for a symmetric positive semi-definite S (float64). */
    public static INDArray sqrtInvPsd(INDArray psd, double eps) {
        SymmetricEigen eig = eigh(regularize(psd, eps));
        double[] lambda = eig.valuesArray();
        double[] f = new double[lambda.length];
        // Below n·ε·λ_max an eigenvalue is zero to working precision (LAPACK and commons-math round it either side of 0).
        double floor = lambda.length * Math.ulp(1.0) * Math.max(lambda.length == 0 ? 0 : lambda[0], 0);
        for (int i = 0; i < lambda.length; i++) {
            if (!(lambda[i] > floor)) {
                throw new ArithmeticException("sqrtInvPsd: eigenvalue " + lambda[i] + " at index " + i + " of a "
                        + lambda.length + "x" + lambda.length + " matrix is not positive after regularisation eps="
                        + eps + " (use eps > 0 for singular covariances)");
            }
            f[i] = 1.0 / Math.sqrt(lambda[i]);
        }
        return spectralFunction(eig, f);
    }

    /** (S + eps·mean(diag S)·I)^{1/2} for a symmetric positive semi-definite S; tiny negative eigenvalues clamp to 0. */
    public static INDArray sqrtPsd(INDArray psd, double eps) {
        SymmetricEigen eig = eigh(regularize(psd, eps));
        double[] lambda = eig.valuesArray();
        double[] f = new double[lambda.length];
        for (int i = 0; i < lambda.length; i++) {
            f[i] = Math.sqrt(Math.max(lambda[i], 0));
        }
        return spectralFunction(eig, f);
    }

    // ---------------------------------------------------------------------------------------------

    /** V·diag(f)·Vᵀ. */
    private static INDArray spectralFunction(SymmetricEigen eig, double[] f) {
        INDArray v = eig.vectors();
        return v.mulRowVector(Nd4j.createFromArray(f)).mmul(v.transpose());
    }

    /** Tall or square x (m ≥ n, n ≤ GESVD_MAX_DIM): QR of the tall side, then dgesvd of the n×n R. */
    static Svd svdByGesvd(INDArray x) {
        if (lapackDistrusted) {
            return svdByCommonsMath(x);
        }
        int m = (int) x.rows();
        int n = (int) x.columns();
        INDArray q = null;
        INDArray square;
        if (m > n) {
            // dgesvd with jobu='A' would build an m×m U; the QR keeps everything thin.
            q = x.dup('f');
            INDArray r = Nd4j.create(DataType.DOUBLE, new long[] {n, n}, 'f');
            lapack().geqrf(q, r);
            square = r;
        } else {
            square = x.dup('f');
        }
        INDArray s = Nd4j.create(DataType.DOUBLE, n);
        INDArray u = Nd4j.create(DataType.DOUBLE, new long[] {n, n}, 'f');
        INDArray vt = Nd4j.create(DataType.DOUBLE, new long[] {n, n}, 'f');
        lapack().gesvd(square, s, u, vt);
        INDArray uFull = (q == null ? u : q.mmul(u)).dup('c');
        INDArray v = vt.transpose().dup('c');
        double defect = svdDefect(x, uFull, s, v);
        if (!(defect <= CHECK_TOLERANCE)) {
            distrustLapack(m > n ? "dgeqrf + dgesvd" : "dgesvd", m + "x" + n, defect);
            return svdByCommonsMath(x);
        }
        normaliseColumnSigns(uFull, v);
        return new Svd(uFull, s.dup('c'), v);
    }

    /** Thin SVD of a tall or square x by commons-math (Golub–Kahan bidiagonalisation, float64). */
    static Svd svdByCommonsMath(INDArray x) {
        SingularValueDecomposition d = new SingularValueDecomposition(new Array2DRowRealMatrix(x.toDoubleMatrix(), false));
        INDArray u = Nd4j.createFromArray(d.getU().getData());
        INDArray v = Nd4j.createFromArray(d.getV().getData());
        normaliseColumnSigns(u, v);
        return new Svd(u, Nd4j.createFromArray(d.getSingularValues()), v);
    }

    /** max(||A − U·diag(s)·Vᵀ||_F / ||A||_F, orthonormality defects of U and V). */
    static double svdDefect(INDArray a, INDArray u, INDArray s, INDArray v) {
        INDArray residual = a.sub(u.mulRowVector(s.reshape(1, s.length())).mmul(v.transpose()));
        double scale = Math.max(a.norm2Number().doubleValue(), Double.MIN_NORMAL);
        return Math.max(residual.norm2Number().doubleValue() / scale, Math.max(orthonormalityDefect(u), orthonormalityDefect(v)));
    }

    /** Tall or square x (m ≥ n): eigen-decomposition of AᵀA, then U from a QR of A·V. */
    static Svd svdByGram(INDArray x) {
        int n = (int) x.columns();
        SymmetricEigen eig = eigh(x.transpose().mmul(x));
        INDArray v = eig.vectors();
        INDArray b = x.mmul(v);
        double[] s = b.norm2(0).toDoubleVector();
        // A·V has (nearly) orthogonal columns of norms σ_i. Its Householder QR gives an exactly orthonormal
        // U even where the Gram route is inaccurate (tiny σ), without changing A = (A·V)·Vᵀ beyond ε·cond.
        INDArray u = lapackDistrusted ? null : orthonormalFactor(b);
        if (u == null) {
            u = gramSchmidtTwice(b);
        }
        // Rounding can swap near-equal neighbours; restore the descending order.
        int[] perm = descendingOrder(s);
        double[] sSorted = Arrays.stream(perm).mapToDouble(i -> s[i]).toArray();
        INDArray uSorted = u.getColumns(perm).dup('c');
        INDArray vSorted = v.getColumns(perm).dup('c');
        normaliseColumnSigns(uSorted, vSorted);
        return new Svd(uSorted, Nd4j.createFromArray(sSorted), vSorted);
    }

    /**
     * Orthonormal columns spanning b's, each keeping the sign of b's column: modified Gram–Schmidt run twice
     * ("twice is enough": orthonormal to working precision), the fallback for a wrong dgeqrf. O(m·n²) in Java.
     */
    static INDArray gramSchmidtTwice(INDArray b) {
        int m = (int) b.rows();
        int n = (int) b.columns();
        double[][] cols = b.transpose().toDoubleMatrix();
        for (int pass = 0; pass < 2; pass++) {
            for (int j = 0; j < n; j++) {
                double[] cj = cols[j];
                for (int i = 0; i < j; i++) {
                    double[] ci = cols[i];
                    double dot = 0;
                    for (int r = 0; r < m; r++) dot += ci[r] * cj[r];
                    for (int r = 0; r < m; r++) cj[r] -= dot * ci[r];
                }
                double norm = 0;
                for (int r = 0; r < m; r++) norm += cj[r] * cj[r];
                norm = Math.sqrt(norm);
                if (norm == 0) {
                    throw new ArithmeticException("svd: column " + j + " of A·V is zero: rank-deficient input to the Gram route");
                }
                for (int r = 0; r < m; r++) cj[r] /= norm;
            }
        }
        return Nd4j.createFromArray(cols).transpose().dup('c');
    }

    /** The indices of {@code values} from the largest value to the smallest. */
    private static int[] descendingOrder(double[] values) {
        Integer[] order = IntStream.range(0, values.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -values[i]));
        return Arrays.stream(order).mapToInt(Integer::intValue).toArray();
    }

    /** The Q of a checked Householder QR of b with sign(diag R) folded in (so Q·|R| ≈ b), or null when dgeqrf was wrong. */
    private static INDArray orthonormalFactor(INDArray b) {
        int n = (int) b.columns();
        INDArray q = b.dup('f');
        INDArray r = Nd4j.create(DataType.DOUBLE, new long[] {n, n}, 'f');
        lapack().geqrf(q, r);
        double scale = Math.max(b.norm2Number().doubleValue(), Double.MIN_NORMAL);
        double defect = Math.max(q.mmul(r).subi(b).norm2Number().doubleValue() / scale, orthonormalityDefect(q));
        if (!(defect <= CHECK_TOLERANCE)) {
            distrustLapack("dgeqrf", b.rows() + "x" + n, defect);
            return null;
        }
        double[] signs = new double[n];
        for (int i = 0; i < n; i++) {
            signs[i] = r.getDouble(i, i) < 0 ? -1 : 1;
        }
        return q.mulRowVector(Nd4j.createFromArray(signs)).dup('c');
    }

    /**
     * Flips column j of {@code primary} (and of {@code partner}, if given) so that the largest-magnitude
     * entry of primary's column j is positive.
     */
    private static void normaliseColumnSigns(INDArray primary, INDArray partner) {
        int cols = (int) primary.columns();
        if (cols == 0) {
            return;
        }
        INDArray argmax = Nd4j.argMax(Transforms.abs(primary, true), 0);
        double[] signs = new double[cols];
        boolean any = false;
        for (int j = 0; j < cols; j++) {
            double value = primary.getDouble(argmax.getLong(j), j);
            signs[j] = value < 0 ? -1 : 1;
            any |= value < 0;
        }
        if (any) {
            INDArray sv = Nd4j.createFromArray(signs).castTo(primary.dataType());
            primary.muliRowVector(sv);
            if (partner != null) {
                partner.muliRowVector(sv);
            }
        }
    }

    private static Lapack lapack() {
        return Nd4j.getBlasWrapper().lapack();
    }

    private static void requireMatrix(INDArray a, String op) {
        if (a.rank() != 2) {
            throw new IllegalArgumentException(op + ": expected a matrix, got shape " + Arrays.toString(a.shape()));
        }
    }

    private static void requireSquare(INDArray a, String op) {
        if (a.rank() != 2 || a.rows() != a.columns()) {
            throw new IllegalArgumentException(op + ": expected a square matrix, got shape " + Arrays.toString(a.shape()));
        }
    }

    private static void requireFinite(boolean finite, String what, int n) {
        if (!finite) {
            throw new IllegalArgumentException(what + " contains NaN or Inf (shape [" + n + ", " + n + "])");
        }
    }

    private static void requireFinite(INDArray a, String what) {
        // LAPACK would otherwise loop or return garbage on NaN/Inf.
        if (a.isNaN().any() || a.isInfinite().any()) {
            throw new IllegalArgumentException(what + " contains NaN or Inf (shape " + Arrays.toString(a.shape()) + ")");
        }
    }
}
