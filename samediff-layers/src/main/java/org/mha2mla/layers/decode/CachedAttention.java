package org.mha2mla.layers.decode;

import java.util.Arrays;

import org.mha2mla.core.tensor.Kernels;
import org.mha2mla.core.tensor.Parallel;
import org.mha2mla.layers.text.AttentionMask;

/**
 * softmax(scores)·values for one new token per sequence over the tokens a layer's cache holds, reading the cache
 * once: a tile of {@value #TILE} slots at a time, its scores (every head), then its values while the tile is still
 * in the CPU's cache, with the softmax kept online (flash-decoding): per head a running maximum m and sum l, and an
 * unnormalised weighted sum that is rescaled by e^(m_old − m_new) whenever a tile raises the maximum. The weighted
 * sums are divided by l at the end. Equal to softmax-then-matmul up to float rounding.
 *
 * <p>The work is split over the cores by sequence, and when the cores do not divide the batch also by ranges of slots
 * (each range with its own m, l and sums, merged after: M = max m_i, L = Σ l_i·e^(m_i − M), sum = Σ sum_i·e^(m_i − M)),
 * so a single sequence's cache is still read once in total. What differs between GQA and absorbed MLA — how a tile's
 * scores and values are formed — comes from {@link Tiles}.
 *
 * <p>Masked slots (a sequence's left padding) get the score {@link AttentionMask#MASKED}, as the full pass's additive
 * mask gives them. When asked, the probabilities of every held slot are written out for the cache-eviction rules:
 * the raw scores are kept during the pass and normalised with the final M and L.
 */
final class CachedAttention {

    /** Slots per tile: 128 latent rows of 1 KB (MLA d_kv 64 × 4 KV heads) or key rows of 2 KB stay in L2. */
    static final int TILE = 128;
    /** Below this many held slots a single sequence is not split over the cores (the split costs more than it saves). */
    static final int MIN_SPLIT_SLOTS = 256;

    /** The attention-specific part: a tile's scores and weighted values. */
    interface Tiles {
        /** Query heads. */
        int heads();

        /** Values per head of a weighted sum (d_h for GQA, the latent rank for MLA). */
        int width();

        /** Weighted sums kept apart per head (2 for MLA with per-modality factors, else 1). */
        int modalities();

        /**
         * Scores of the tile's slots [from, from + n) of sequence b, already scaled by 1/√d_h:
         * {@code s[h·sStride + t]} for head h and slot from + t.
         */
        void scores(Work w, int b, int from, int n, float[] s, int sStride);

        /** {@code acc[(m·heads + h)·width + c] += Σ_t p[h·pStride + t]·value_m(from + t)[c]} over the tile. */
        void values(Work w, int b, int from, int n, float[] p, int pStride, float[] acc);
    }

    /** Scratch of one work item (a sequence and a range of its slots), reused from step to step. */
    static final class Work {
        final CacheRows.Tile[] tiles;
        float[] scores = new float[0];
        /** A second tile of per-head rows for a {@link Tiles} implementation's own use. */
        float[] extra = new float[0];
        float[] acc = new float[0];
        float[] max = new float[0];
        float[] sum = new float[0];
        int b;
        int from;
        int to;

        Work(int tensors) {
            tiles = new CacheRows.Tile[tensors];
            for (int i = 0; i < tensors; i++) tiles[i] = new CacheRows.Tile();
        }

        /** The rows of slots [from, from + n) of cache tensor j of sequence b, as float32. */
        CacheRows.Tile tile(StaticCache cache, int layer, int j, int b, int from, int n) {
            cache.rows(layer, j).tile(b, from, n, tiles[j]);
            return tiles[j];
        }

        void size(int heads, int width, int modalities) {
            if (scores.length < heads * TILE) {
                scores = new float[heads * TILE];
                extra = new float[heads * TILE];
            }
            if (acc.length < modalities * heads * width) acc = new float[modalities * heads * width];
            if (max.length < heads) {
                max = new float[heads];
                sum = new float[heads];
            }
        }
    }

    private final Kernels k = Kernels.get();
    private final int tensors;
    private Work[] work = new Work[0];

    /** @param tensors cache tensors per layer (tile buffers per work item) */
    CachedAttention(int tensors) {
        this.tensors = tensors;
    }

    /**
     * Attention of each sequence's new token over slots [0, cache.length(layer)) of {@code layer}.
     *
     * @param out   receives the normalised sums, {@code out[((b·M + m)·heads + h)·width + c]}
     * @param probs null, or receives the probabilities {@code probs[(b·heads + h)·probsStride + t]} of every held slot
     */
    void run(Tiles tiles, StaticCache cache, int layer, int batch, float[] out, float[] probs, int probsStride) {
        int length = cache.length(layer);
        int heads = tiles.heads();
        int width = tiles.width();
        int modalities = tiles.modalities();
        int splits = splits(batch, length);
        int items = batch * splits;
        if (work.length < items) {
            Work[] grown = Arrays.copyOf(work, items);
            for (int i = work.length; i < items; i++) grown[i] = new Work(tensors);
            work = grown;
        }
        for (int b = 0; b < batch; b++) {
            for (int s = 0; s < splits; s++) {
                Work w = work[b * splits + s];
                w.size(heads, width, modalities);
                w.b = b;
                w.from = (int) ((long) length * s / splits);
                w.to = (int) ((long) length * (s + 1) / splits);
            }
        }
        Parallel.forRange(items, 1, (from, to) -> {
            for (int i = from; i < to; i++) runItem(tiles, cache, layer, work[i], probs, probsStride);
        });
        for (int b = 0; b < batch; b++) merge(b, splits, heads, width, modalities, out, probs, probsStride, length);
    }

    /**
     * Splits per sequence: the fewest that make the (sequence, range) items a multiple of the cores, so each core gets
     * as many (1 when the cores divide the batch, e.g. a batch of 16 on 2 cores), when the cache is long enough.
     */
    static int splits(int batch, int length) {
        if (length < MIN_SPLIT_SLOTS) return 1;
        int threads = Parallel.threads();
        return threads / gcd(batch, threads);
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    private void runItem(Tiles tiles, StaticCache cache, int layer, Work w, float[] probs, int probsStride) {
        int heads = tiles.heads();
        int width = tiles.width();
        int modalities = tiles.modalities();
        Arrays.fill(w.acc, 0, modalities * heads * width, 0f);
        Arrays.fill(w.max, 0, heads, Float.NEGATIVE_INFINITY);
        Arrays.fill(w.sum, 0, heads, 0f);
        int padded = cache.paddedSlots(layer, w.b);
        float[] s = w.scores;
        for (int from = w.from; from < w.to; from += TILE) {
            int n = Math.min(TILE, w.to - from);
            tiles.scores(w, w.b, from, n, s, TILE);
            if (padded > from) {
                int masked = Math.min(n, padded - from);
                for (int h = 0; h < heads; h++) Arrays.fill(s, h * TILE, h * TILE + masked, AttentionMask.MASKED);
            }
            if (probs != null) {
                for (int h = 0; h < heads; h++) System.arraycopy(s, h * TILE, probs, (w.b * heads + h) * probsStride + from, n);
            }
            for (int h = 0; h < heads; h++) {
                float tileMax = k.max(s, h * TILE, n);
                if (tileMax > w.max[h]) {
                    float rescale = w.max[h] == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(w.max[h] - tileMax);
                    if (w.sum[h] != 0f) {
                        for (int m = 0; m < modalities; m++) k.scale(rescale, w.acc, (m * heads + h) * width, width);
                    }
                    w.sum[h] *= rescale;
                    w.max[h] = tileMax;
                }
                w.sum[h] += k.expShift(s, h * TILE, n, w.max[h]);
            }
            tiles.values(w, w.b, from, n, s, TILE, w.acc);
        }
    }

    /** Combines sequence b's ranges and normalises: out = Σ_i sum_i·e^(m_i − M) / Σ_i l_i·e^(m_i − M). */
    private void merge(int b, int splits, int heads, int width, int modalities, float[] out, float[] probs, int probsStride, int length) {
        int perModality = heads * width;
        int outBase = b * modalities * perModality;
        for (int h = 0; h < heads; h++) {
            float max = Float.NEGATIVE_INFINITY;
            for (int s = 0; s < splits; s++) max = Math.max(max, work[b * splits + s].max[h]);
            float total = 0;
            for (int s = 0; s < splits; s++) {
                Work w = work[b * splits + s];
                if (w.to > w.from) total += w.sum[h] * (float) Math.exp(w.max[h] - max);
            }
            for (int m = 0; m < modalities; m++) {
                int o = outBase + m * perModality + h * width;
                Arrays.fill(out, o, o + width, 0f);
                for (int s = 0; s < splits; s++) {
                    Work w = work[b * splits + s];
                    if (w.to > w.from) k.axpy((float) Math.exp(w.max[h] - max) / total, w.acc, (m * heads + h) * width, out, o, width);
                }
            }
            if (probs != null) {
                int row = (b * heads + h) * probsStride;
                k.expShift(probs, row, length, max);
                k.scale(1f / total, probs, row, length);
            }
        }
    }
}
