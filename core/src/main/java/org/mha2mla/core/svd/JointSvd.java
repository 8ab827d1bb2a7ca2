package org.mha2mla.core.svd;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Baseline: activation-aware SVD with one covariance over all tokens (text and visual together), i.e.
 * Alg. 1 applied to the joint statistics; one factor pair shared by both modalities.
 */
public final class JointSvd {

    private JointSvd() {
    }

    /** Joint factors from per-modality statistics (merged), default ridge {@link MdSvd#DEFAULT_EPS}. */
    public static LowRankFactors factorize(INDArray w, ModalityCovariance stats, int rank) {
        return factorize(w, stats, rank, MdSvd.DEFAULT_EPS);
    }

    /** Joint factors from per-modality statistics (merged) with ridge eps. */
    public static LowRankFactors factorize(INDArray w, ModalityCovariance stats, int rank, double eps) {
        return MdSvd.factorize(w, stats.joint(), rank, eps);
    }

    /** Joint factors from an accumulator that already holds all tokens. */
    public static LowRankFactors factorize(INDArray w, CovarianceAccumulator allTokens, int rank, double eps) {
        return MdSvd.factorize(w, allTokens, rank, eps);
    }
}
