package org.mha2mla.core.partialrope;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * MKL pair scores: for every layer, query head and pair, the attention KL divergence caused by zeroing
 * the pair ({@link KlScorer#pairKl}, causal), averaged over the (multimodal) calibration samples, then
 * averaged over the query heads of each GQA group onto their KV head. Keep the top r per KV head.
 */
public final class MklScorer implements java.io.Serializable {

    private static final long serialVersionUID = 1L;

    private final int numHeads;
    private final int kvHeads;
    private final int headDim;
    private final double[][][] sum; // [layer][n_h][pairs], sum over samples of the per-sample mean KL
    private final int[] samples;

    /** An empty accumulator for a model's shape. */
    public MklScorer(int layers, int numHeads, int kvHeads, int headDim) {
        RopeSelection.groupSize(numHeads, kvHeads);
        this.numHeads = numHeads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.sum = new double[layers][numHeads][headDim / 2];
        this.samples = new int[layers];
    }

    /** Adds one sample of a layer: q [n_h, L, d_h] and k [n_kv, L, d_h] after RoPE, all query positions. */
    public void accumulate(int layer, INDArray qRotated, INDArray kRotated) {
        accumulate(layer, qRotated, kRotated, null);
    }

    /** Adds one sample, averaging over the query positions of {@code queryMask} (null: all). */
    public void accumulate(int layer, INDArray qRotated, INDArray kRotated, boolean[] queryMask) {
        if (qRotated.size(0) != numHeads || kRotated.size(0) != kvHeads || qRotated.size(2) != headDim) {
            throw new IllegalArgumentException("layer " + layer + ": q " + java.util.Arrays.toString(qRotated.shape())
                    + " / k " + java.util.Arrays.toString(kRotated.shape()) + " do not match n_h=" + numHeads
                    + ", n_kv=" + kvHeads + ", d_h=" + headDim);
        }
        double[][] kl = KlScorer.pairKl(qRotated, kRotated, true, queryMask);
        for (int h = 0; h < numHeads; h++) {
            for (int p = 0; p < kl[h].length; p++) {
                sum[layer][h][p] += kl[h][p];
            }
        }
        samples[layer]++;
    }

    /** Adds another scorer's samples (statistics of disjoint samples, e.g. from another machine) into this one. */
    public MklScorer merge(MklScorer other) {
        if (other.sum.length != sum.length || other.numHeads != numHeads || other.kvHeads != kvHeads || other.headDim != headDim) {
            throw new IllegalArgumentException("cannot merge MKL scores of different model shapes");
        }
        for (int l = 0; l < sum.length; l++) {
            for (int h = 0; h < numHeads; h++) {
                for (int p = 0; p < sum[l][h].length; p++) sum[l][h][p] += other.sum[l][h][p];
            }
            samples[l] += other.samples[l];
        }
        return this;
    }

    /** Samples accumulated for a layer. */
    public int samples(int layer) {
        return samples[layer];
    }

    /** Mean KL per query head and pair [n_h][d_h/2] of one layer. */
    public double[][] queryHeadScores(int layer) {
        if (samples[layer] == 0) {
            throw new IllegalStateException("no samples accumulated for layer " + layer);
        }
        double[][] out = new double[numHeads][headDim / 2];
        for (int h = 0; h < numHeads; h++) {
            for (int p = 0; p < headDim / 2; p++) {
                out[h][p] = sum[layer][h][p] / samples[layer];
            }
        }
        return out;
    }

    /** Scores [n_kv][d_h/2] of one layer (mean over the group's query heads). */
    public double[][] scores(int layer) {
        return PartialRope.foldQueryHeads(queryHeadScores(layer), kvHeads, true);
    }

    /** Scores of all layers [layer][n_kv][d_h/2], ready for {@link PartialRope#select}. */
    public double[][][] scores() {
        double[][][] out = new double[samples.length][][];
        for (int l = 0; l < out.length; l++) {
            out[l] = scores(l);
        }
        return out;
    }
}
