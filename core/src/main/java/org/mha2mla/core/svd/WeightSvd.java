package org.mha2mla.core.svd;

import java.util.Arrays;
import org.mha2mla.core.linalg.LinearAlgebra;
import org.mha2mla.core.linalg.Svd;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Baseline: plain truncated SVD of the weight, minimising ‖W − W_up W_down‖_F with no regard to the
 * activations (MHA2MLA's "joint" SVD of [W_k; W_v]). Factors are split symmetrically:
 * W_up = U_r Σ_r^{1/2}, W_down = Σ_r^{1/2} V_rᵀ.
 */
public final class WeightSvd {

    private WeightSvd() {
    }

    /** Rank-r factors of W [rows, d]; truncationLoss = ‖W − W_up W_down‖²_F = Σ_{i>r} σ_i². */
    public static LowRankFactors factorize(INDArray w, int rank) {
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
        double[] root = new double[rank];
        for (int i = 0; i < rank; i++) {
            root[i] = Math.sqrt(s[i]);
        }
        INDArray rootRow = Nd4j.createFromArray(root);
        INDArray wUp = top.u().mulRowVector(rootRow);
        INDArray wDown = top.v().mulRowVector(rootRow).transpose().dup();
        double[] discarded = Arrays.copyOfRange(s, rank, s.length);
        double loss = 0;
        for (double x : discarded) {
            loss += x * x;
        }
        return new LowRankFactors(wDown, wUp, loss, discarded);
    }
}
