package org.mha2mla.core.svd;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Baseline {@code svd-llm}: activation-aware SVD (SVD-LLM's objective, min ‖W X − W_up W_down X‖_F, computed as
 * MHA2MLA-VLM's Alg. 1) with one covariance over all tokens, text and visual together: one factor pair shared by
 * both modalities. It is MD-SVD without the modality split, the comparison of the paper's Theorem 2.1.
 */
public final class SvdLlm {

    private SvdLlm() {
    }

    /** Factors from per-modality statistics (merged), default ridge {@link MdSvd#DEFAULT_EPS}, balanced. */
    public static LowRankFactors factorize(INDArray w, ModalityCovariance stats, int rank) {
        return factorize(w, stats, rank, MdSvd.DEFAULT_EPS);
    }

    /** Factors from per-modality statistics (merged) with ridge eps, balanced. */
    public static LowRankFactors factorize(INDArray w, ModalityCovariance stats, int rank, double eps) {
        return MdSvd.factorize(w, stats.allTokens(), rank, eps);
    }

    /** Factors from an accumulator that holds all tokens, scaled by {@code split} over {@code samples} calibration samples. */
    public static LowRankFactors factorize(INDArray w, CovarianceAccumulator allTokens, int rank, double eps, FactorSplit split, long samples) {
        return MdSvd.factorize(w, allTokens, rank, eps, split, samples);
    }
}
