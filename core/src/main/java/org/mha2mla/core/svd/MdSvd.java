package org.mha2mla.core.svd;

import java.util.Arrays;
import java.util.stream.IntStream;
import org.mha2mla.core.linalg.LinearAlgebra;
import org.mha2mla.core.linalg.SymmetricEigen;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Modality-decoupled SVD (MHA2MLA-VLM, Alg. 1): for each modality m, with S_m = X_mᵀX_m / N_m,
 * <pre>
 *   S = U_s Σ_s U_sᵀ,   D = W U_s Σ_s^{1/2},   D ≈ U_d Σ_d V_dᵀ (rank r),
 *   W_up = U_d Σ_d^{1/2},   W_down = Σ_d^{1/2} V_dᵀ Σ_s^{-1/2} U_sᵀ,
 * </pre>
 * which minimises ‖W X_m − W_up W_down X_m‖²_F over rank-r factor pairs, with minimum
 * N_m · Σ_{i>r} σ_{d,i}².
 *
 * <p>Regularisation: S is replaced by S + δI with δ = eps · mean(diag S) ({@link #DEFAULT_EPS} = 1e-6).
 * Without it a covariance with (near-)zero eigenvalues — fewer tokens than dimensions, dead channels —
 * makes Σ_s^{-1/2} blow up. The reported loss accounts for the ridge exactly (see below).
 *
 * <p>Computation, equal to Alg. 1 in exact arithmetic but cheaper and better conditioned:
 * <ul>
 *   <li>V_d = Dᵀ U_d Σ_d^{-1}, hence W_down = Σ_d^{-1/2} U_dᵀ W: no Σ_s^{-1/2} is ever formed, and
 *       W_up · W_down = U_d U_dᵀ W is W projected on the top-r left singular space of D.</li>
 *   <li>When rows ≤ d (GQA models: Qwen2.5-VL-7B has 896 rows for d = 3584), U_d and Σ_d² come from the
 *       rows×rows eigenproblem D Dᵀ = W (S + δI) Wᵀ, without decomposing S at all.</li>
 *   <li>When rows > d (MHA models: LLaVA-1.5-7B has 7168 rows for d = 4096), any square root of S gives D's
 *       left singular pairs: with the Cholesky factor S + δI = L Lᵀ, D' = W L has D' D'ᵀ = W S Wᵀ = D Dᵀ. Only the
 *       top r eigenpairs of the d×d Gram matrix D'ᵀD' are computed (LAPACK dsyevr), and the discarded energy
 *       Σ_{i>r} σ_{d,i}² is tr(D'ᵀD') minus the kept eigenvalues. At 4096 × 4096 with r = 512 this is one
 *       Cholesky (1.2 s), a triangular product (dtrmm) and a Gram matrix (dsyrk), each half a gemm's
 *       arithmetic, and a partial eigen-decomposition (5 s) per modality, where Alg. 1 literally
 *       needs two full eigen-decompositions of 4096² (66 s each with ND4J's dsyev). The discarded singular values
 *       themselves are then not known one by one ({@link LowRankFactors#discardedSingularValues()} is empty).
 *       If S is only semi-definite (eps = 0 and fewer tokens than dimensions), its eigen-decomposition gives the
 *       square root instead (Alg. 1 literally).</li>
 *   <li>At 7B widths (rows > d ≥ {@value #FLOAT32_MIN_DIM}) that route runs in float32 after the Cholesky factor —
 *       W L, the Gram matrix, its top r pairs (ssyevr) and U_r — as the authors' {@code run_svd_init.py} computes both
 *       of its SVDs ({@code torch.linalg.svd} on {@code .float()}). L itself stays float64 and is rounded: S + δI
 *       rounded to float32 is often not positive definite any more (its condition number reaches 1/eps and beyond with
 *       fewer text tokens than dimensions or outlier channels). One LLaVA-1.5-7B-shaped layer, both modalities: 22–32 s
 *       in float64, 8.7–13.0 s in float32, median 9.9 (benchmarks/scale; per modality ssyevr ≈ 2.0 s, most of it
 *       the reduction to tridiagonal form, ssyrk and strmm ≈ 0.65 s each, the Cholesky factor ≈ 0.5 s); the loss moved by
 *       6e-6 relative. The loss is taken in float64 from the float32 vectors
 *       (σ_i² = ‖W L v_i‖², tail = tr(G) − Σ σ_i²).</li>
 *   <li>Loss: with P = U_d U_dᵀ and E = (I − P) W, ‖E X‖² = N · tr(E S Eᵀ)
 *       = N · (Σ_{i>r} σ_{d,i}² − δ ‖E‖²_F), the second term removing the ridge's share; ‖E‖²_F = ‖W‖²_F − ‖U_dᵀ W‖²_F.
 *       This closed form is the loss {@link TruncationLoss} measures on the statistics, without its [rows, d]
 *       error matrix and gemm.</li>
 * </ul>
 * Singular directions with σ_d² ≤ 1e-13 · σ_{d,1}² inside the rank are dropped (zero row of W_down, zero
 * column of W_up) rather than divided by.
 *
 * <p>Scale ({@link FactorSplit}): with {@link FactorSplit#AUTHORS} S is XᵀX / (N·n) over n calibration samples, as
 * the authors' {@code run_svd_init.py} divides it; D, Σ_d and so the factors change scale (W_up by n^-¼, W_down by
 * n^¼), the product and the loss do not. {@link FactorSplit#BALANCED} keeps the per-token S = XᵀX / N.
 */
public final class MdSvd {

    /** Default ridge eps: S + eps · mean(diag S) · I. */
    public static final double DEFAULT_EPS = 1e-6;

    /** Smallest d at which rows > d is computed in float32 (7B models have d ≥ 3,584, the test models ≤ 1,024). */
    static final int FLOAT32_MIN_DIM = 2048;

    private MdSvd() {
    }

    /** Per-modality factors of W [rows, d] with the default ridge, balanced (per-token S). */
    public static ModalityFactors factorize(INDArray w, ModalityCovariance stats, int rank) {
        return factorize(w, stats, rank, DEFAULT_EPS);
    }

    /** Per-modality factors of W [rows, d], balanced (per-token S): one pair from the text statistics, one from the visual. */
    public static ModalityFactors factorize(INDArray w, ModalityCovariance stats, int rank, double eps) {
        return factorize(w, stats, rank, eps, FactorSplit.BALANCED, 1);
    }

    /**
     * Per-modality factors of W [rows, d] scaled by {@code split}; {@code samples} is the number n of calibration
     * samples the statistics came from (both modalities are divided by the same n, as the authors do).
     */
    public static ModalityFactors factorize(INDArray w, ModalityCovariance stats, int rank, double eps, FactorSplit split, long samples) {
        return new ModalityFactors(
                factorize(w, stats.text(), rank, eps, split, samples),
                factorize(w, stats.visual(), rank, eps, split, samples));
    }

    /** Whether W [rows, d] takes the float32 Cholesky route. */
    static boolean inFloat32(long rows, long d) {
        return rows > d && d >= FLOAT32_MIN_DIM;
    }

    /** Factors for the tokens of one accumulator (one modality, or all tokens for SVD-LLM), balanced. */
    public static LowRankFactors factorize(INDArray w, CovarianceAccumulator stats, int rank, double eps) {
        return factorize(w, stats, rank, eps, FactorSplit.BALANCED, 1);
    }

    /**
     * Factors for the tokens of one accumulator, S = XᵀX / N ({@link FactorSplit#BALANCED}) or XᵀX / (N·n)
     * ({@link FactorSplit#AUTHORS}, n = {@code samples}).
     */
    public static LowRankFactors factorize(INDArray w, CovarianceAccumulator stats, int rank, double eps, FactorSplit split, long samples) {
        if (stats.tokens() == 0) {
            throw new IllegalArgumentException("no calibration tokens for this modality: cannot build S = XᵀX/N");
        }
        if (split == FactorSplit.BALANCED) {
            return factorize(w, stats.covariance(), stats.tokens(), rank, eps);
        }
        if (samples <= 0) throw new IllegalArgumentException("the authors' scale divides S by the calibration samples, got " + samples);
        // S/n with the loss weight N·n: N·n·tr(E (S/n) Eᵀ) is the same ‖EX‖² as N·tr(E S Eᵀ)
        return factorize(w, stats.covariance().divi(samples), stats.tokens() * samples, rank, eps);
    }

    /**
     * Alg. 1 for one covariance.
     *
     * @param w          [rows, d]: [W_k on the NoPE dims; W_v]
     * @param covariance S = XᵀX / N [d, d] (or XᵀX / (N·n) for the authors' scale)
     * @param tokens     the divisor of XᵀX in S (N, or N·n), to express the loss as a sum over tokens
     * @param rank       latent size r = n_kv · d_kv
     * @param eps        ridge: S + eps · mean(diag S) · I
     */
    public static LowRankFactors factorize(INDArray w, INDArray covariance, long tokens, int rank, double eps) {
        int rows = (int) w.rows();
        int d = (int) w.columns();
        if (w.rank() != 2 || covariance.rank() != 2 || covariance.rows() != d || covariance.columns() != d) {
            throw new IllegalArgumentException("W " + Arrays.toString(w.shape()) + " and covariance "
                    + Arrays.toString(covariance.shape()) + " do not match (expected [rows, d] and [d, d])");
        }
        int maxRank = Math.min(rows, d);
        if (rank <= 0 || rank > maxRank) {
            throw new IllegalArgumentException("rank " + rank + " outside [1, " + maxRank + "] for W " + Arrays.toString(w.shape()));
        }
        if (inFloat32(rows, d)) {
            LowRankFactors single = factorizeInFloat32(w, covariance, tokens, rank, eps);
            if (single != null) {
                return single;
            }
        }
        double delta = LinearAlgebra.ridge(covariance, eps);
        INDArray wd = LinearAlgebra.toDouble(w);

        if (rows <= d) {
            // W (S + δI) Wᵀ = W S Wᵀ + δ W Wᵀ: no ridged d × d copy of S (an allocation of 100 MB at d = 3,584)
            INDArray wwt = wd.mmul(wd.transpose()).muli(delta);
            SymmetricEigen eig = LinearAlgebra.eigh(wd.mmul(LinearAlgebra.toDouble(covariance)).mmul(wd.transpose()).addi(wwt));
            double[] sigma2 = eig.valuesArray(); // all squared singular values of D, descending
            INDArray uTop = eig.vectors().getColumns(IntStream.range(0, rank).toArray());
            double tail = Arrays.stream(sigma2, rank, sigma2.length).sum();
            return buildFactors(wd, uTop, sigma2, tail, discardedSingularValues(sigma2, rank), rank, tokens, delta);
        }
        INDArray l = LinearAlgebra.choleskyLower(covariance, delta);
        if (l == null) {
            return factorizeBySquareRootOfS(wd, LinearAlgebra.regularize(covariance, eps), rank, tokens, delta);
        }
        INDArray dPrime = LinearAlgebra.timesLowerTriangular(wd, l);
        INDArray gram = LinearAlgebra.gram(dPrime);
        SymmetricEigen top = LinearAlgebra.eighTop(gram, rank);
        double[] sigma2 = top.valuesArray();
        double tail = Math.max(LinearAlgebra.meanDiagonal(gram) * d - Arrays.stream(sigma2).sum(), 0);
        return buildFactors(wd, leftSingularVectors(dPrime, top.vectors()), sigma2, tail, new double[0], rank, tokens, delta);
    }

    /**
     * The Cholesky route in float32 from a float64 factor, or null when S + δI has no Cholesky factor. σ_i² are taken as
     * ‖D' v_i‖² (accurate to float32's relative precision even for small σ_i, where the eigenvalue itself is accurate
     * to ε·σ_1² only), summed in float64.
     */
    static LowRankFactors factorizeInFloat32(INDArray w, INDArray covariance, long tokens, int rank, double eps) {
        double delta = LinearAlgebra.ridge(covariance, eps);
        // L in float64, then rounded (class comment): spotrf failed on both modalities of a LLaVA-1.5-7B layer
        INDArray exact = LinearAlgebra.choleskyLower(covariance, delta);
        if (exact == null) {
            return null;
        }
        INDArray l = exact.castTo(DataType.FLOAT);
        // The d × d and rows × d temporaries (0.1 GB each at 7B) are closed as soon as they are used: ND4J frees
        // off-heap memory only when the JVM collects the wrappers, which a quiet heap does rarely (benchmarks/scale).
        exact.close();
        INDArray dPrime = LinearAlgebra.timesLowerTriangular(w, l, DataType.FLOAT);
        l.close();
        SymmetricEigen top = LinearAlgebra.eighTopOfGram(dPrime, rank, DataType.FLOAT);
        INDArray b = dPrime.mmul(top.vectors()); // [rows, r], columns of norms σ_i
        double[] sigma2 = squaredColumnNorms(b);
        double tail = Math.max(Arrays.stream(squaredColumnNorms(dPrime)).sum() - Arrays.stream(sigma2).sum(), 0); // tr(D'ᵀD') − Σ σ_i²
        dPrime.close();
        double[] inv = Arrays.stream(sigma2).map(x -> x > 0 ? 1.0 / Math.sqrt(x) : 0.0).toArray();
        INDArray uTop = b.muliRowVector(Nd4j.createFromArray(inv).castTo(DataType.FLOAT));
        return buildFactors(w.castTo(DataType.FLOAT), uTop, sigma2, tail, new double[0], rank, tokens, delta);
    }

    /** Σ_i b_ij² per column j of a float32 matrix, accumulated in float64. */
    private static double[] squaredColumnNorms(INDArray b) {
        INDArray x = b.ordering() == 'c' && !b.isView() ? b : b.dup('c');
        int cols = (int) b.columns();
        double[] out = new double[cols];
        java.nio.FloatBuffer buffer = x.data().asNioFloat();
        float[] row = new float[cols];
        for (long i = 0, rows = b.rows(); i < rows; i++) {
            buffer.get((int) (i * cols), row);
            for (int j = 0; j < cols; j++) {
                out[j] += (double) row[j] * row[j];
            }
        }
        return out;
    }

    /** Alg. 1 literally for rows > d: S = U_s Λ U_sᵀ, D = W U_s Λ^{1/2}, all eigenpairs of DᵀD. */
    private static LowRankFactors factorizeBySquareRootOfS(INDArray wd, INDArray s, int rank, long tokens, double delta) {
        SymmetricEigen eigS = LinearAlgebra.eigh(s);
        double[] sqrtLambda = Arrays.stream(eigS.valuesArray()).map(x -> Math.sqrt(Math.max(x, 0))).toArray();
        INDArray dMat = wd.mmul(eigS.vectors()).muliRowVector(Nd4j.createFromArray(sqrtLambda));
        SymmetricEigen eigD = LinearAlgebra.eigh(dMat.transpose().mmul(dMat));
        double[] sigma2 = eigD.valuesArray();
        INDArray uTop = leftSingularVectors(dMat, eigD.vectors().getColumns(IntStream.range(0, rank).toArray()));
        double tail = Arrays.stream(sigma2, rank, sigma2.length).sum();
        return buildFactors(wd, uTop, sigma2, tail, discardedSingularValues(sigma2, rank), rank, tokens, delta);
    }

    /** U_r = D V_r Σ_r^{-1} from D's top right singular vectors V_r (columns of D V_r have norms σ_i; zero stays zero). */
    private static INDArray leftSingularVectors(INDArray dMat, INDArray vTop) {
        INDArray b = dMat.mmul(vTop);
        double[] norms = b.norm2(0).toDoubleVector();
        double[] inv = Arrays.stream(norms).map(x -> x > 0 ? 1.0 / x : 0.0).toArray();
        return b.muliRowVector(Nd4j.createFromArray(inv));
    }

    /** σ_{r+1}, σ_{r+2}, … from the squared values (negative rounding clamps to 0). */
    private static double[] discardedSingularValues(double[] sigma2, int rank) {
        return Arrays.stream(sigma2, rank, sigma2.length).map(x -> Math.sqrt(Math.max(x, 0))).toArray();
    }

    /**
     * W_up = U_r Σ_r^{1/2}, W_down = Σ_r^{-1/2} U_rᵀ W, and the closed-form loss N · (tail − δ ‖(I − P) W‖²_F), where
     * {@code sigma2} holds at least the top r squared singular values and {@code tail} = Σ_{i>r} σ_i².
     */
    static LowRankFactors buildFactors(INDArray wd, INDArray uTop, double[] sigma2, double tail, double[] discarded,
                                       int rank, long tokens, double delta) {
        // W and U_r in float64, or both in float32 (then U_rᵀ W is formed in float32 and the factors widened)
        double floor = Math.max(sigma2[0], 0) * 1e-13;
        double[] upScale = new double[rank];
        double[] downScale = new double[rank];
        for (int i = 0; i < rank; i++) {
            double s2 = sigma2[i];
            if (s2 > floor && s2 > 0) {
                double sigma = Math.sqrt(s2);
                upScale[i] = Math.sqrt(sigma);
                downScale[i] = 1.0 / Math.sqrt(sigma);
            } else {
                tail += Math.max(s2, 0); // a dropped direction inside the rank is lost as well
            }
        }
        INDArray wUp = LinearAlgebra.toDouble(uTop).mulRowVector(Nd4j.createFromArray(upScale));
        INDArray projection = LinearAlgebra.toDouble(uTop.transpose().mmul(wd)); // U_rᵀ W [r, d]
        double ridgeShare = 0;
        if (delta != 0) {
            // ‖(I − P) W‖²_F = ‖W‖²_F − Σ_kept ‖u_iᵀ W‖² (Pythagoras; U_r orthonormal), without forming the
            // [rows, d] error matrix (a 7,168 × 4,096 float64 copy and a gemm per modality at LLaVA-1.5-7B).
            double[] rowNorms = projection.norm2(1).toDoubleVector();
            double kept = 0;
            for (int i = 0; i < rank; i++) {
                if (downScale[i] != 0) kept += rowNorms[i] * rowNorms[i];
            }
            double w2 = wd.norm2Number().doubleValue();
            ridgeShare = delta * Math.max(w2 * w2 - kept, 0);
        }
        INDArray wDown = projection.muliColumnVector(Nd4j.createFromArray(downScale).reshape(rank, 1));
        double loss = Math.max(tail - ridgeShare, 0) * tokens;
        return new LowRankFactors(wDown, wUp, loss, discarded);
    }
}
