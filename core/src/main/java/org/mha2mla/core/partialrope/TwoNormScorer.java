package org.mha2mla.core.partialrope;

import java.util.Arrays;
import org.mha2mla.core.linalg.LinearAlgebra;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * MHA2MLA's head-wise 2-norm pair scores, as its {@code 2_norm.py} computes them: for every sample the
 * mean over tokens of ‖q_pair‖ (per query head) and of ‖k_pair‖ (per KV head), averaged over samples;
 * the score of pair k is mean‖q_k‖ · mean‖k_k‖ (a product of means, not the mean of products), summed
 * over the query heads of a GQA group onto their KV head.
 *
 * <p>Pair norms are invariant under the RoPE rotation, so q/k may be given before or after it.
 */
public final class TwoNormScorer implements java.io.Serializable {

    private static final long serialVersionUID = 1L;

    private final int numHeads;
    private final int kvHeads;
    private final int headDim;
    private final double[][][] qSum; // [layer][n_h][pairs]: sum over samples of the per-sample token mean
    private final double[][][] kSum; // [layer][n_kv][pairs]
    private final int[] samples;

    /** An empty accumulator for a model's shape. */
    public TwoNormScorer(int layers, int numHeads, int kvHeads, int headDim) {
        RopeSelection.groupSize(numHeads, kvHeads);
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim must be positive and even, got " + headDim);
        }
        this.numHeads = numHeads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.qSum = new double[layers][numHeads][headDim / 2];
        this.kSum = new double[layers][kvHeads][headDim / 2];
        this.samples = new int[layers];
    }

    /** Adds one sample of a layer: q [n_h, L, d_h], k [n_kv, L, d_h]. */
    public void accumulate(int layer, INDArray q, INDArray k) {
        accumulate(layer, q, k, null);
    }

    /** Adds one sample, averaging over the tokens where {@code validTokens} is true (null: all). */
    public void accumulate(int layer, INDArray q, INDArray k, boolean[] validTokens) {
        checkShape(q, numHeads, "q");
        checkShape(k, kvHeads, "k");
        if (q.size(1) != k.size(1)) {
            throw new IllegalArgumentException("q has " + q.size(1) + " tokens, k has " + k.size(1));
        }
        double[][] qm = meanPairNorms(q, validTokens);
        double[][] km = meanPairNorms(k, validTokens);
        add(qSum[layer], qm);
        add(kSum[layer], km);
        samples[layer]++;
    }

    /** Adds another scorer's samples (statistics of disjoint samples, e.g. from another machine) into this one. */
    public TwoNormScorer merge(TwoNormScorer other) {
        if (other.qSum.length != qSum.length || other.numHeads != numHeads || other.kvHeads != kvHeads || other.headDim != headDim) {
            throw new IllegalArgumentException("cannot merge 2-norm scores of different model shapes");
        }
        for (int l = 0; l < qSum.length; l++) {
            add(qSum[l], other.qSum[l]);
            add(kSum[l], other.kSum[l]);
            samples[l] += other.samples[l];
        }
        return this;
    }

    /** Samples accumulated for a layer. */
    public int samples(int layer) {
        return samples[layer];
    }

    /** Scores [n_kv][d_h/2] of one layer: Σ_{query heads of the group} mean‖q_pair‖ · mean‖k_pair‖. */
    public double[][] scores(int layer) {
        if (samples[layer] == 0) {
            throw new IllegalStateException("no samples accumulated for layer " + layer);
        }
        int group = numHeads / kvHeads;
        int pairs = headDim / 2;
        double[][] perQuery = new double[numHeads][pairs];
        for (int h = 0; h < numHeads; h++) {
            for (int p = 0; p < pairs; p++) {
                perQuery[h][p] = (qSum[layer][h][p] / samples[layer]) * (kSum[layer][h / group][p] / samples[layer]);
            }
        }
        return PartialRope.foldQueryHeads(perQuery, kvHeads, false);
    }

    /** Scores of all layers [layer][n_kv][d_h/2], ready for {@link PartialRope#select}. */
    public double[][][] scores() {
        double[][][] out = new double[samples.length][][];
        for (int l = 0; l < out.length; l++) {
            out[l] = scores(l);
        }
        return out;
    }

    /** Mean over tokens of the pair norms sqrt(x_k² + x_{k+d/2}²) of x [heads, L, d_h]: [heads][d_h/2]. */
    public static double[][] meanPairNorms(INDArray x, boolean[] validTokens) {
        if (x.rank() != 3 || x.size(2) % 2 != 0) {
            throw new IllegalArgumentException("expected [heads, L, d_h] with even d_h, got " + Arrays.toString(x.shape()));
        }
        long half = x.size(2) / 2;
        int length = (int) x.size(1);
        INDArray xd = LinearAlgebra.toDouble(x);
        INDArray a = xd.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, half));
        INDArray b = xd.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(half, 2 * half));
        INDArray norms = Transforms.sqrt(a.mul(a).addi(b.mul(b)), false); // [heads, L, half]
        if (validTokens == null) {
            return norms.mean(1).toDoubleMatrix();
        }
        if (validTokens.length != length) {
            throw new IllegalArgumentException("token mask has " + validTokens.length + " entries, x has " + length + " tokens");
        }
        int count = 0;
        double[] w = new double[length];
        for (int i = 0; i < length; i++) {
            if (validTokens[i]) {
                w[i] = 1;
                count++;
            }
        }
        if (count == 0) {
            throw new IllegalArgumentException("token mask selects no token");
        }
        INDArray weights = Nd4j.createFromArray(w).reshape(1, length, 1);
        return norms.mul(weights).sum(1).divi(count).toDoubleMatrix();
    }

    private void checkShape(INDArray x, int heads, String name) {
        if (x.rank() != 3 || x.size(0) != heads || x.size(2) != headDim) {
            throw new IllegalArgumentException(name + " has shape " + Arrays.toString(x.shape()) + ", expected ["
                    + heads + ", L, " + headDim + "]");
        }
    }

    private static void add(double[][] acc, double[][] x) {
        for (int i = 0; i < acc.length; i++) {
            for (int j = 0; j < acc[i].length; j++) {
                acc[i][j] += x[i][j];
            }
        }
    }
}
