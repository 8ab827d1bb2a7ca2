package org.mha2mla.core.linalg;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Eigen-decomposition A = V·diag(λ)·Vᵀ of a symmetric matrix, float64.
 *
 * @param values  eigenvalues λ, shape [n], in descending order
 * @param vectors eigenvectors as the columns of V, shape [n, n]; column i belongs to values[i]
 */
public record SymmetricEigen(INDArray values, INDArray vectors) {

    /** Matrix size n. */
    public int size() {
        return (int) values.length();
    }

    /** Eigenvalues as a Java array, descending. */
    public double[] valuesArray() {
        return values.toDoubleVector();
    }
}
