package org.mha2mla.core.linalg;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.SingularValueDecomposition;
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

    /** Set once LAPACK returned a wrong factorisation in this process. */
    private static volatile boolean lapackDistrusted;

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
        if (lapackDistrusted) {
            return eighByCommonsMath(work);
        }
        INDArray symmetrised = work.dup('c');
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
        double defect = eigenDefect(symmetrised, vectors, values);
        if (!(defect <= CHECK_TOLERANCE)) {
            distrustLapack("dsyev", n + "x" + n, defect);
            return eighByCommonsMath(symmetrised);
        }
        normaliseColumnSigns(vectors, null);
        return new SymmetricEigen(Nd4j.createFromArray(values), vectors);
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
        INDArray residual = a.mmul(vectors).subi(vectors.mulRowVector(Nd4j.createFromArray(values)));
        double scale = Math.max(a.norm2Number().doubleValue(), Double.MIN_NORMAL);
        return Math.max(residual.norm2Number().doubleValue() / scale, orthonormalityDefect(vectors));
    }

    /** ||QᵀQ − I||_F / √k for the k columns of q. */
    static double orthonormalityDefect(INDArray q) {
        long k = q.columns();
        INDArray gram = q.transpose().mmul(q).subi(Nd4j.eye(k).castTo(DataType.DOUBLE));
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
