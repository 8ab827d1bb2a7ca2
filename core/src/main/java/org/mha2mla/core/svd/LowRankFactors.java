package org.mha2mla.core.svd;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A rank-r factorisation W ≈ W_up · W_down of a [rows, d] projection weight (rows = output features,
 * HF Linear layout): the latent is c = W_down · x (r values per token) and the outputs W_up · c.
 * Factors are float64.
 *
 * @param wDown                     [r, d]
 * @param wUp                       [rows, r]
 * @param truncationLoss            the method's own objective at its optimum: for activation-aware
 *                                  methods ‖W·X − W_up·W_down·X‖²_F summed over the calibration tokens
 *                                  (closed form), for the weight-only baseline ‖W − W_up·W_down‖²_F
 * @param discardedSingularValues   singular values of the decomposed matrix beyond the rank, descending; empty where
 *                                  the method computed only the top r (MD-SVD with more rows than d: its loss
 *                                  comes from the trace)
 */
public record LowRankFactors(INDArray wDown, INDArray wUp, double truncationLoss, double[] discardedSingularValues) {

    /** The rank r (latent size). */
    public int rank() {
        return (int) wDown.rows();
    }

    /** W_up · W_down [rows, d]. */
    public INDArray approximation() {
        return wUp.mmul(wDown);
    }

    /** Rows [from, to) of W_up, e.g. the k_nope part (rows 0 … n_kv·(d_h − d_r)) or the value part. */
    public INDArray wUpRows(int from, int to) {
        if (from < 0 || to > wUp.rows() || from > to) {
            throw new IllegalArgumentException("rows [" + from + ", " + to + ") outside W_up with " + wUp.rows() + " rows");
        }
        return wUp.get(NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup();
    }
}
