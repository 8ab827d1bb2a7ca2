package org.mha2mla.core.partialrope;

import java.util.Arrays;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.Rope;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Partial RoPE: keep rotary position embedding on r of the d_h/2 frequency pairs of every (layer, KV
 * head), and leave the other dims unrotated (NoPE), so that they can be compressed into the latent.
 * The pair selection strategies of MHA2MLA (high, low, uniform, 2-norm) and MHA2MLA-VLM's MKL.
 */
public final class PartialRope {

    private PartialRope() {
    }

    /** Pairs 0 … r−1: the highest frequencies. */
    public static int[] highFrequencyPairs(int headDim, int r) {
        checkR(headDim, r);
        return java.util.stream.IntStream.range(0, r).toArray();
    }

    /** Pairs d_h/2 − r … d_h/2 − 1: the lowest frequencies. */
    public static int[] lowFrequencyPairs(int headDim, int r) {
        checkR(headDim, r);
        int half = headDim / 2;
        return java.util.stream.IntStream.range(half - r, half).toArray();
    }

    /**
     * Pairs start, start + s, start + 2s, … with stride s = (d_h/2)/r: MHA2MLA's uniform mask, which marks
     * dims start, start + d_h/d_r, … over the whole head (so the same pairs in both halves).
     */
    public static int[] uniformPairs(int headDim, int r, int start) {
        checkR(headDim, r);
        int half = headDim / 2;
        if (half % r != 0) {
            throw new IllegalArgumentException("uniform partial RoPE needs r = " + r + " to divide d_h/2 = " + half);
        }
        int stride = half / r;
        if (start < 0 || start >= stride) {
            throw new IllegalArgumentException("uniform start point " + start + " outside [0, " + stride + ")");
        }
        int[] p = new int[r];
        for (int i = 0; i < r; i++) {
            p[i] = start + i * stride;
        }
        return p;
    }

    /** The r indices with the largest scores (ties: lower index first), returned ascending. */
    public static int[] topPairs(double[] scores, int r) {
        if (r < 0 || r > scores.length) {
            throw new IllegalArgumentException("cannot keep " + r + " of " + scores.length + " pairs");
        }
        for (int i = 0; i < scores.length; i++) {
            if (Double.isNaN(scores[i])) {
                throw new IllegalArgumentException("score of pair " + i + " is NaN");
            }
        }
        Integer[] order = new Integer[scores.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        // Stable sort by descending score: equal scores keep the lower (higher-frequency) pair first.
        Arrays.sort(order, (a, b) -> Double.compare(scores[b], scores[a]));
        int[] top = new int[r];
        for (int i = 0; i < r; i++) {
            top[i] = order[i];
        }
        Arrays.sort(top);
        return top;
    }

    /**
     * Builds the selection for a model.
     *
     * @param ropeDim d_r = 2r rotated dims per head (default d_h/4)
     * @param scores  per-pair scores [layer][kvHead][d_h/2] for TWO_NORM and MKL (already folded onto KV
     *                heads, see {@link #foldQueryHeads}); ignored (may be null) for HIGH, LOW, UNIFORM
     */
    public static RopeSelection select(RopeStrategy strategy, int layers, int kvHeads, int headDim, int ropeDim,
                                       double[][][] scores) {
        if (ropeDim <= 0 || ropeDim % 2 != 0 || ropeDim > headDim) {
            throw new IllegalArgumentException("rope dim d_r must be even and in (0, d_h = " + headDim + "], got " + ropeDim);
        }
        int r = ropeDim / 2;
        int[][][] kept = new int[layers][kvHeads][];
        if (strategy.needsScores()) {
            if (scores == null || scores.length != layers) {
                throw new IllegalArgumentException(strategy + " needs scores for " + layers + " layers, got "
                        + (scores == null ? "none" : scores.length));
            }
        }
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                kept[l][h] = switch (strategy) {
                    case HIGH -> highFrequencyPairs(headDim, r);
                    case LOW -> lowFrequencyPairs(headDim, r);
                    case UNIFORM -> uniformPairs(headDim, r, 0);
                    case TWO_NORM, MKL -> {
                        if (scores[l].length != kvHeads || scores[l][h].length != headDim / 2) {
                            throw new IllegalArgumentException(strategy + " scores of layer " + l + " have shape ["
                                    + scores[l].length + "][" + (scores[l].length > h ? scores[l][h].length : -1)
                                    + "], expected [" + kvHeads + "][" + headDim / 2 + "]");
                        }
                        yield topPairs(scores[l][h], r);
                    }
                };
            }
        }
        return new RopeSelection(headDim, kept);
    }

    /**
     * Folds per-query-head pair scores [n_h][pairs] onto KV heads [n_kv][pairs] for GQA: query heads
     * g·G … g·G + G − 1 (G = n_h/n_kv, repeat-interleave order) belong to KV head g; their scores are
     * summed, or averaged when {@code average}.
     */
    public static double[][] foldQueryHeads(double[][] perQueryHead, int kvHeads, boolean average) {
        int numHeads = perQueryHead.length;
        int group = RopeSelection.groupSize(numHeads, kvHeads);
        int pairs = perQueryHead[0].length;
        double[][] out = new double[kvHeads][pairs];
        for (int h = 0; h < numHeads; h++) {
            if (perQueryHead[h].length != pairs) {
                throw new IllegalArgumentException("query head " + h + " has " + perQueryHead[h].length
                        + " pair scores, head 0 has " + pairs);
            }
            for (int p = 0; p < pairs; p++) {
                out[h / group][p] += perQueryHead[h][p];
            }
        }
        if (average) {
            for (double[] row : out) {
                for (int p = 0; p < pairs; p++) {
                    row[p] /= group;
                }
            }
        }
        return out;
    }

    /**
     * Tables for one head under partial RoPE: cos/sin where {@code dimMask} is true, cos = 1 and sin = 0
     * elsewhere (the rotation by angle 0), so {@link Rope#applyRotary} leaves the NoPE dims unchanged.
     */
    public static CosSin maskCosSin(CosSin tables, boolean[] dimMask) {
        if (dimMask.length != tables.headDim()) {
            throw new IllegalArgumentException("dim mask has " + dimMask.length + " entries, tables have d_h = " + tables.headDim());
        }
        float[] keep = new float[dimMask.length];
        float[] drop = new float[dimMask.length];
        for (int i = 0; i < dimMask.length; i++) {
            keep[i] = dimMask[i] ? 1f : 0f;
            drop[i] = dimMask[i] ? 0f : 1f;
        }
        INDArray keepRow = Nd4j.createFromArray(keep).castTo(tables.cos().dataType());
        INDArray dropRow = Nd4j.createFromArray(drop).castTo(tables.cos().dataType());
        INDArray cos = tables.cos().mulRowVector(keepRow).addiRowVector(dropRow);
        INDArray sin = tables.sin().mulRowVector(keepRow);
        return new CosSin(cos, sin);
    }

    /**
     * Reference partial rotation of x [heads, L, d_h]: head h is rotated on the dims of headDimMasks[h]
     * and left as is elsewhere.
     */
    public static INDArray applyRotary(INDArray x, CosSin tables, boolean[][] headDimMasks) {
        if (x.rank() != 3 || x.size(0) != headDimMasks.length) {
            throw new IllegalArgumentException("partial applyRotary: x " + Arrays.toString(x.shape()) + " vs "
                    + headDimMasks.length + " head masks (expected [heads, L, d_h])");
        }
        INDArray out = Nd4j.create(x.dataType(), x.shape());
        for (int h = 0; h < headDimMasks.length; h++) {
            CosSin m = maskCosSin(tables, headDimMasks[h]);
            INDArray head = x.get(NDArrayIndex.point(h), NDArrayIndex.all(), NDArrayIndex.all());
            out.get(NDArrayIndex.point(h), NDArrayIndex.all(), NDArrayIndex.all())
                    .assign(Rope.applyRotary(head, m.cos(), m.sin()));
        }
        return out;
    }

    private static void checkR(int headDim, int r) {
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim must be positive and even, got " + headDim);
        }
        if (r <= 0 || r > headDim / 2) {
            throw new IllegalArgumentException("kept pairs r = " + r + " outside [1, " + headDim / 2 + "]");
        }
    }
}
