package org.mha2mla.core.svd;

import java.util.Arrays;
import org.mha2mla.core.linalg.LinearAlgebra;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Running XᵀX over activation chunks X [N, d] (tokens as rows), kept in float64, and the token count:
 * the statistics S = XᵀX / N of activation-aware SVD. Serializable, so that sums gathered on other machines come back
 * to be added up.
 */
public final class CovarianceAccumulator implements java.io.Serializable {

    private static final long serialVersionUID = 1L;

    private final int dim;
    private final INDArray sum;
    private long tokens;

    /** An empty accumulator for d-dimensional activations. */
    public CovarianceAccumulator(int dim) {
        if (dim <= 0) {
            throw new IllegalArgumentException("activation dimension must be positive, got " + dim);
        }
        this.dim = dim;
        this.sum = Nd4j.zeros(DataType.DOUBLE, dim, dim);
    }

    /** Adds every row of x [N, d] (any float dtype; promoted to float64 before the product). */
    public void add(INDArray x) {
        checkChunk(x);
        if (x.rows() == 0) {
            return;
        }
        INDArray xd = LinearAlgebra.toDouble(x);
        // sum += xdᵀ·xd in place (dgemm with transA, beta = 1): no d×d temporary per chunk
        Nd4j.gemm(xd, xd, sum, true, false, 1.0, 1.0);
        tokens += x.rows();
    }

    /** Adds the rows of x [N, d] where rowMask is true. */
    public void add(INDArray x, boolean[] rowMask) {
        checkChunk(x);
        if (rowMask.length != x.rows()) {
            throw new IllegalArgumentException("row mask has " + rowMask.length + " entries for " + x.rows() + " tokens");
        }
        int[] rows = java.util.stream.IntStream.range(0, rowMask.length).filter(i -> rowMask[i]).toArray();
        if (rows.length == 0) {
            return;
        }
        add(rows.length == rowMask.length ? x : Nd4j.pullRows(x, 1, rows)); // native gather, ~20x faster than getRows
    }

    /** Tokens accumulated, N. */
    public long tokens() {
        return tokens;
    }

    /** Activation dimension d. */
    public int dim() {
        return dim;
    }

    /** A copy of XᵀX [d, d], float64. */
    public INDArray sum() {
        return sum.dup();
    }

    /** S = XᵀX / N [d, d], float64. */
    public INDArray covariance() {
        if (tokens == 0) {
            throw new IllegalStateException("covariance of an empty accumulator (no tokens added)");
        }
        return sum.div(tokens);
    }

    /**
     * ‖W X‖²_F over the accumulated tokens, from WᵀW [d, d] (any float dtype): Σ (WᵀW ∘ XᵀX), summed in float64 row by
     * row without a d × d temporary.
     */
    public double outputEnergy(INDArray gramOfW) {
        if (gramOfW.rank() != 2 || gramOfW.rows() != dim || gramOfW.columns() != dim) {
            throw new IllegalArgumentException("WᵀW has shape " + Arrays.toString(gramOfW.shape()) + ", expected [" + dim + ", " + dim + "]");
        }
        double energy = 0;
        double[] sumRow = new double[dim];
        java.nio.DoubleBuffer sums = sum.data().asNioDouble();
        for (int i = 0; i < dim; i++) {
            double[] gramRow = gramOfW.getRow(i).toDoubleVector();
            sums.get(i * dim, sumRow);
            for (int j = 0; j < dim; j++) {
                energy += gramRow[j] * sumRow[j];
            }
        }
        return energy;
    }

    /** Adds the tokens of {@code other} into this accumulator (disjoint samples, e.g. from another machine). */
    public CovarianceAccumulator addAll(CovarianceAccumulator other) {
        if (other.dim != dim) {
            throw new IllegalArgumentException("cannot add covariances of dimension " + other.dim + " to " + dim);
        }
        sum.addi(other.sum);
        tokens += other.tokens;
        return this;
    }

    /** A new accumulator holding the tokens of both (the joint statistics of two modalities). */
    public CovarianceAccumulator merge(CovarianceAccumulator other) {
        if (other.dim != dim) {
            throw new IllegalArgumentException("cannot merge covariances of dimension " + dim + " and " + other.dim);
        }
        CovarianceAccumulator m = new CovarianceAccumulator(dim);
        m.sum.addi(sum).addi(other.sum);
        m.tokens = tokens + other.tokens;
        return m;
    }

    private void checkChunk(INDArray x) {
        if (x.rank() != 2 || x.columns() != dim) {
            throw new IllegalArgumentException("activation chunk has shape " + Arrays.toString(x.shape())
                    + ", expected [N, " + dim + "]");
        }
    }
}
