package org.mha2mla.core.partialrope;

import java.util.Arrays;

/**
 * The kept RoPE pairs of every (layer, KV head): the same count r in each, so the MLA cache holds
 * d_r = 2r rotated dims per KV head. Pair k stands for dims {k, k + d_h/2} (HF {@code rotate_half} layout).
 * Query heads use the selection of their KV head (repeat-interleave over the GQA group), so q·k stays a
 * sum over the same pairs.
 */
public final class RopeSelection {

    private final int headDim;
    private final int[][][] pairs; // [layer][kvHead][r], ascending

    /** A selection from kept pair indices [layer][kvHead][r]; pairs are sorted, duplicates rejected. */
    public RopeSelection(int headDim, int[][][] keptPairs) {
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim must be positive and even, got " + headDim);
        }
        if (keptPairs.length == 0 || keptPairs[0].length == 0) {
            throw new IllegalArgumentException("a selection needs at least one layer and one KV head");
        }
        int half = headDim / 2;
        int kvHeads = keptPairs[0].length;
        int r = keptPairs[0][0].length;
        this.headDim = headDim;
        this.pairs = new int[keptPairs.length][kvHeads][];
        for (int l = 0; l < keptPairs.length; l++) {
            if (keptPairs[l].length != kvHeads) {
                throw new IllegalArgumentException("layer " + l + " has " + keptPairs[l].length + " KV heads, layer 0 has " + kvHeads);
            }
            for (int h = 0; h < kvHeads; h++) {
                int[] p = keptPairs[l][h].clone();
                Arrays.sort(p);
                if (p.length != r) {
                    throw new IllegalArgumentException("layer " + l + " KV head " + h + " keeps " + p.length
                            + " pairs, expected " + r + " (every head must keep the same d_r)");
                }
                for (int i = 0; i < p.length; i++) {
                    if (p[i] < 0 || p[i] >= half) {
                        throw new IllegalArgumentException("layer " + l + " KV head " + h + ": pair " + p[i]
                                + " outside [0, " + half + ")");
                    }
                    if (i > 0 && p[i] == p[i - 1]) {
                        throw new IllegalArgumentException("layer " + l + " KV head " + h + ": pair " + p[i] + " repeated");
                    }
                }
                pairs[l][h] = p;
            }
        }
    }

    /** Every pair kept (d_r = d_h): partial RoPE that changes nothing, for identity checks. */
    public static RopeSelection all(int layers, int kvHeads, int headDim) {
        int[] every = java.util.stream.IntStream.range(0, headDim / 2).toArray();
        int[][][] p = new int[layers][kvHeads][];
        for (int[][] layer : p) {
            Arrays.fill(layer, every);
        }
        return new RopeSelection(headDim, p);
    }

    /** Number of decoder layers. */
    public int layers() {
        return pairs.length;
    }

    /** Number of KV heads n_kv. */
    public int kvHeads() {
        return pairs[0].length;
    }

    /** Head dimension d_h. */
    public int headDim() {
        return headDim;
    }

    /** Kept pairs per head, r. */
    public int keptPairCount() {
        return pairs[0][0].length;
    }

    /** Rotated dims per head, d_r = 2r. */
    public int ropeDim() {
        return 2 * keptPairCount();
    }

    /** Kept pair indices of one KV head, ascending. */
    public int[] keptPairs(int layer, int kvHead) {
        return pairs[layer][kvHead].clone();
    }

    /** Boolean mask over head_dim of one KV head: true at k and k + d_h/2 for every kept pair k. */
    public boolean[] dimMask(int layer, int kvHead) {
        boolean[] mask = new boolean[headDim];
        for (int p : pairs[layer][kvHead]) {
            mask[p] = true;
            mask[p + headDim / 2] = true;
        }
        return mask;
    }

    /**
     * The rotated dims of one KV head in cache order [p_0 … p_{r−1}, p_0 + d_h/2 … p_{r−1} + d_h/2]: gathering
     * these rows of W_k gives a d_r-wide k_rope that is itself in rotate_half layout (pair i = dims {i, i + r}).
     */
    public int[] ropeDims(int layer, int kvHead) {
        int[] p = pairs[layer][kvHead];
        int[] dims = new int[2 * p.length];
        for (int i = 0; i < p.length; i++) {
            dims[i] = p[i];
            dims[i + p.length] = p[i] + headDim / 2;
        }
        return dims;
    }

    /** The NoPE dims of one KV head (complement of the rope dims), ascending. */
    public int[] nopeDims(int layer, int kvHead) {
        boolean[] mask = dimMask(layer, kvHead);
        return java.util.stream.IntStream.range(0, headDim).filter(i -> !mask[i]).toArray();
    }

    /** Dim masks of all KV heads of a layer, [n_kv][d_h]. */
    public boolean[][] keyMasks(int layer) {
        boolean[][] m = new boolean[kvHeads()][];
        for (int h = 0; h < m.length; h++) {
            m[h] = dimMask(layer, h);
        }
        return m;
    }

    /** Dim masks of the query heads of a layer, [n_h][d_h]: query head h uses KV head h / (n_h / n_kv). */
    public boolean[][] queryMasks(int layer, int numHeads) {
        int group = groupSize(numHeads, kvHeads());
        boolean[][] m = new boolean[numHeads][];
        for (int h = 0; h < numHeads; h++) {
            m[h] = dimMask(layer, h / group);
        }
        return m;
    }

    /** A copy of the kept pairs [layer][kvHead][r], e.g. for the converted model's config.json. */
    public int[][][] toArray() {
        int[][][] copy = new int[pairs.length][][];
        for (int l = 0; l < pairs.length; l++) {
            copy[l] = new int[pairs[l].length][];
            for (int h = 0; h < pairs[l].length; h++) {
                copy[l][h] = pairs[l][h].clone();
            }
        }
        return copy;
    }

    static int groupSize(int numHeads, int kvHeads) {
        if (numHeads <= 0 || numHeads % kvHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads " + numHeads
                    + " is not a positive multiple of num_key_value_heads " + kvHeads);
        }
        return numHeads / kvHeads;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RopeSelection s && s.headDim == headDim && Arrays.deepEquals(s.pairs, pairs);
    }

    @Override
    public int hashCode() {
        return 31 * headDim + Arrays.deepHashCode(pairs);
    }

    @Override
    public String toString() {
        return "RopeSelection[layers=" + layers() + ", kvHeads=" + kvHeads() + ", headDim=" + headDim
                + ", d_r=" + ropeDim() + "]";
    }
}
