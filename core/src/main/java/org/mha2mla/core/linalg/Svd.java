package org.mha2mla.core.linalg;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Thin (or truncated) singular value decomposition A ≈ U·diag(s)·Vᵀ, float64.
 *
 * @param u left singular vectors as columns, shape [m, k]
 * @param s singular values, shape [k], descending, non-negative
 * @param v right singular vectors as columns, shape [n, k] (V, not Vᵀ)
 */
public record Svd(INDArray u, INDArray s, INDArray v) {

    /** Number of singular triplets k. */
    public int rank() {
        return (int) s.length();
    }

    /** Vᵀ, shape [k, n]. */
    public INDArray vt() {
        return v.transpose();
    }

    /** U·diag(s)·Vᵀ, shape [m, n]. */
    public INDArray reconstruct() {
        return u.mulRowVector(s).mmul(v.transpose());
    }

    /** The leading {@code k} triplets (1 ≤ k ≤ rank()). */
    public Svd truncate(int k) {
        if (k < 1 || k > rank()) {
            throw new IllegalArgumentException("truncate: rank " + k + " outside [1, " + rank() + "]");
        }
        return new Svd(
                u.get(NDArrayIndex.all(), NDArrayIndex.interval(0, k)).dup(),
                s.get(NDArrayIndex.interval(0, k)).dup(),
                v.get(NDArrayIndex.all(), NDArrayIndex.interval(0, k)).dup());
    }
}
