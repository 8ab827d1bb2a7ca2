package org.mha2mla.core.linalg;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.blas.Lapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The one place where the project calls eigen and singular value decompositions: float64, through
 * ND4J's LAPACK binding ({@code Nd4j.getBlasWrapper().lapack()}: dsyev, dgesvd, dgeqrf).
 *
 * <p>Never ND4J's {@code svd} custom op: it returns wrong factors on CPU for matrices with 16 rows or
 * more. Facts measured on nd4j-native 1.0.0-M2.1 (OpenBLAS 0.3.19): the LAPACK wrapper accepts float
 * and double, 'c' and 'f' order alike (the CPU backend passes LAPACK_ROW_MAJOR for 'c' arrays), and
 * overwrites its input in place. This class always hands it a private 'f'-ordered float64 copy, so
 * callers' arrays and views are never touched. dsyev returns eigenvalues ascending; they are flipped to
 * descending here. dgesvd is slow in that build (1024², full U and V: 20 s; 2048²: 150 s) while dsyev is
 * not (1024²: 1.8 s, 4096²: 84 s), hence: dgesvd only on matrices whose small side is at most
 * {@value #GESVD_MAX_DIM}, eigen-decompositions of Gram matrices above that.
 *
 * <p>Signs are made deterministic: every eigenvector (and every left singular vector) has its
 * largest-magnitude component positive, so results do not depend on the LAPACK build.
 */
public final class LinearAlgebra {

    /** Largest min(m, n) for which {@link #svd} uses dgesvd; above it the Gram-matrix route is taken. */
    public static final int GESVD_MAX_DIM = 256;

    private LinearAlgebra() {
    }

    /** A float64 copy (or the array itself when it already is float64). */
    public static INDArray toDouble(INDArray a) {
        return a.dataType() == DataType.DOUBLE ? a : a.castTo(DataType.DOUBLE);
    }

    /**
     * Eigen-decomposition of a symmetric matrix (LAPACK dsyev on (A + Aᵀ)/2): eigenvalues descending,
     * eigenvectors as columns.
     */
    public static SymmetricEigen eigh(INDArray symmetric) {
        requireSquare(symmetric, "eigh");
        int n = (int) symmetric.rows();
        INDArray a = toDouble(symmetric);
        // dsyev reads one triangle only: symmetrising first makes the result independent of which one,
        // and absorbs the last-bit asymmetry of X^T X products computed by gemm.
        INDArray work = a.add(a.transpose()).muli(0.5).dup('f');
        requireFinite(work, "eigh input");
        INDArray w = Nd4j.create(DataType.DOUBLE, n);
        int info = lapack().syev('V', 'U', work, w);
        if (info != 0) {
            throw new ArithmeticException("LAPACK dsyev failed (info=" + info + ") on a " + n + "x" + n + " matrix");
        }
        int[] descending = IntStream.range(0, n).map(i -> n - 1 - i).toArray();
        double[] wAsc = w.toDoubleVector();
        double[] values = new double[n];
        for (int i = 0; i < n; i++) {
            values[i] = wAsc[n - 1 - i];
        }
        INDArray vectors = work.getColumns(descending).dup('c');
        normaliseColumnSigns(vectors, null);
        return new SymmetricEigen(Nd4j.createFromArray(values), vectors);
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

    /** S + eps·mean(diag(S))·I: the ridge used before inverting square roots of covariances. */
    public static INDArray regularize(INDArray psd, double eps) {
        requireSquare(psd, "regularize");
        if (eps < 0 || Double.isNaN(eps)) {
            throw new IllegalArgumentException("regularize: eps must be >= 0, got " + eps);
        }
        INDArray s = toDouble(psd).dup();
        double delta = ridge(s, eps);
        for (int i = 0; i < s.rows(); i++) {
            s.putScalar(i, i, s.getDouble(i, i) + delta);
        }
        return s;
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
        for (int i = 0; i < lambda.length; i++) {
            if (!(lambda[i] > 0)) {
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
        normaliseColumnSigns(uFull, v);
        return new Svd(uFull, s.dup('c'), v);
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
        INDArray q = b.dup('f');
        INDArray r = Nd4j.create(DataType.DOUBLE, new long[] {n, n}, 'f');
        lapack().geqrf(q, r);
        double[] signs = new double[n];
        for (int i = 0; i < n; i++) {
            signs[i] = r.getDouble(i, i) < 0 ? -1 : 1;
        }
        INDArray u = q.mulRowVector(Nd4j.createFromArray(signs)).dup('c');
        // Rounding can swap near-equal neighbours; restore the descending order.
        Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -s[i]));
        int[] perm = Arrays.stream(order).mapToInt(Integer::intValue).toArray();
        double[] sSorted = Arrays.stream(perm).mapToDouble(i -> s[i]).toArray();
        INDArray uSorted = u.getColumns(perm).dup('c');
        INDArray vSorted = v.getColumns(perm).dup('c');
        normaliseColumnSigns(uSorted, vSorted);
        return new Svd(uSorted, Nd4j.createFromArray(sSorted), vSorted);
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
            INDArray sv = Nd4j.createFromArray(signs);
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

    private static void requireFinite(INDArray a, String what) {
        // LAPACK would otherwise loop or return garbage on NaN/Inf.
        if (a.isNaN().any() || a.isInfinite().any()) {
            throw new IllegalArgumentException(what + " contains NaN or Inf (shape " + Arrays.toString(a.shape()) + ")");
        }
    }
}
