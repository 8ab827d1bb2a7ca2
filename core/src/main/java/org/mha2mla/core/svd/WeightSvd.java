package org.mha2mla.core.svd;

import java.util.Arrays;
import org.mha2mla.core.linalg.LinearAlgebra;
import org.mha2mla.core.linalg.Svd;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Baseline {@code svd-joint}: plain truncated SVD of the weight, minimising ‖W − W_up W_down‖_F with no regard to
 * the activations — MHA2MLA's SVD_joint of [W_k,nope; W_v], the authors' {@code svd_init_method: joint}. Factors
 * ({@link FactorSplit}): W_up = U_r Σ_r, W_down = V_rᵀ as the authors' {@code SVD()} returns them, or balanced
 * W_up = U_r Σ_r^{1/2}, W_down = Σ_r^{1/2} V_rᵀ.
 */
public final class WeightSvd {

    private WeightSvd() {
    }

    /** Balanced rank-r factors of W [rows, d]; truncationLoss = ‖W − W_up W_down‖²_F = Σ_{i>r} σ_i². */
    public static LowRankFactors factorize(INDArray w, int rank) {
        return factorize(w, rank, FactorSplit.BALANCED);
    }

    /** Rank-r factors of W [rows, d] split as {@code split} says; truncationLoss = Σ_{i>r} σ_i². */
    public static LowRankFactors factorize(INDArray w, int rank, FactorSplit split) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException("expected a weight matrix [rows, d], got " + Arrays.toString(w.shape()));
        }
        int maxRank = (int) Math.min(w.rows(), w.columns());
        if (rank <= 0 || rank > maxRank) {
            throw new IllegalArgumentException("rank " + rank + " outside [1, " + maxRank + "] for W " + Arrays.toString(w.shape()));
        }
        Svd svd = LinearAlgebra.svd(w);
        double[] s = svd.s().toDoubleVector();
        Svd top = svd.truncate(rank);
        double[] upScale = new double[rank];
        double[] downScale = new double[rank];
        for (int i = 0; i < rank; i++) {
            upScale[i] = split == FactorSplit.AUTHORS ? s[i] : Math.sqrt(s[i]);
            downScale[i] = split == FactorSplit.AUTHORS ? 1.0 : Math.sqrt(s[i]);
        }
        INDArray wUp = top.u().mulRowVector(Nd4j.createFromArray(upScale));
        INDArray wDown = top.v().mulRowVector(Nd4j.createFromArray(downScale)).transpose().dup();
        double[] discarded = Arrays.copyOfRange(s, rank, s.length);
        double loss = 0;
        for (double x : discarded) {
            loss += x * x;
        }
        return new LowRankFactors(wDown, wUp, loss, discarded);
    }
}
