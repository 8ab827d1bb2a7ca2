package org.mha2mla.core.svd;

import java.util.Arrays;
import org.mha2mla.core.linalg.LinearAlgebra;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * ‖W·X − W_up·W_down·X‖²_F (summed over tokens) for any factors: the per-layer comparison of split and
 * joint factorisations (paper Fig. 4 and Theorem 2.1). Independent of how the factors were computed.
 */
public final class TruncationLoss {

    private TruncationLoss() {
    }

    /** tr(E · XᵀX · Eᵀ) with E = W − W_up W_down, from accumulated statistics (exact, float64). */
    public static double onStatistics(INDArray w, LowRankFactors factors, CovarianceAccumulator stats) {
        return trace(error(w, factors), stats.sum());
    }

    /** N · tr(E · S · Eᵀ) for a covariance S = XᵀX / N over N tokens. */
    public static double onCovariance(INDArray w, LowRankFactors factors, INDArray covariance, long tokens) {
        return tokens * trace(error(w, factors), LinearAlgebra.toDouble(covariance));
    }

    /** Directly from activations x [N, d]: Σ_tokens ‖(W − W_up W_down) x_t‖². */
    public static double direct(INDArray w, LowRankFactors factors, INDArray x) {
        INDArray xd = LinearAlgebra.toDouble(x);
        INDArray wd = LinearAlgebra.toDouble(w);
        INDArray exact = xd.mmul(wd.transpose());
        INDArray approx = xd.mmul(factors.wDown().transpose()).mmul(factors.wUp().transpose());
        double n = exact.sub(approx).norm2Number().doubleValue();
        return n * n;
    }

    private static INDArray error(INDArray w, LowRankFactors factors) {
        INDArray wd = LinearAlgebra.toDouble(w);
        if (wd.rows() != factors.wUp().rows() || wd.columns() != factors.wDown().columns()) {
            throw new IllegalArgumentException("W " + Arrays.toString(w.shape()) + " does not match factors W_up "
                    + Arrays.toString(factors.wUp().shape()) + " / W_down " + Arrays.toString(factors.wDown().shape()));
        }
        return wd.sub(factors.approximation());
    }

    private static double trace(INDArray e, INDArray gram) {
        if (gram.rows() != e.columns()) {
            throw new IllegalArgumentException("statistics of dimension " + gram.rows() + " for W with " + e.columns() + " columns");
        }
        // tr(E G Eᵀ) = Σ_ij (E G)_ij E_ij
        return e.mmul(gram).muli(e).sumNumber().doubleValue();
    }
}
