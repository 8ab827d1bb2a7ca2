package org.mha2mla.layers.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.mha2mla.layers.generation.CacheStats;
import org.mha2mla.layers.text.DecoderAttention.CacheTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The static cache over MLA-shaped tensors (three layouts, three sequence axes): prefill and in-place appends,
 * reads of the filled prefix only, eviction that keeps the tensors of a layer aligned, positions vs held length,
 * and quantized storage.
 */
class StaticCacheTest {

    /** c_kv [B, T, 8], k_rope [B, 2, T, 4], modality [B, T], as a latent cache could declare them. */
    static final List<CacheTensor> MLA = List.of(
            new CacheTensor("c_kv", new long[]{-1, -1, 8}, 1),
            new CacheTensor("k_rope", new long[]{-1, 2, -1, 4}, 2),
            new CacheTensor("modality", new long[]{-1, -1}, 1));

    /** A tensor of {@code spec} with T tokens whose every value is 100·(first + t) + its offset in the token row. */
    static INDArray tokens(CacheTensor spec, int first, int t) {
        long[] shape = spec.shape().clone();
        shape[0] = 1;
        shape[spec.seqAxis()] = t;
        INDArray a = Nd4j.create(DataType.FLOAT, shape);
        long row = spec.valuesPerToken();
        for (long i = 0; i < a.length(); i++) {
            long[] idx = org.nd4j.linalg.api.shape.Shape.ind2subC(a, i);
            long tok = idx[spec.seqAxis()];
            long off = 0;
            for (int d = 1; d < shape.length; d++) if (d != spec.seqAxis()) off = off * shape[d] + idx[d];
            a.putScalar(idx, 100 * (first + tok) + off % row);
        }
        return a;
    }

    /** The token (first value / 100) of each held row of tensor j of {@code layer}, checking every value of the row. */
    static int[] tokenIds(StaticCache cache, int layer, int j) {
        int row = (int) MLA.get(j).valuesPerToken();
        float[] flat = cache.rowsOf(layer, j, 0);
        int t = flat.length / row;
        int[] ids = new int[t];
        for (int k = 0; k < t; k++) {
            ids[k] = Math.round(flat[k * row] / 100);
            for (int c = 0; c < row; c++) assertEquals(100f * ids[k] + c, flat[k * row + c], 1e-3f);
        }
        return ids;
    }

    private static StaticCache cache(int layers, int t, int capacity, StaticCache.Storage storage) {
        List<List<CacheTensor>> specs = new ArrayList<>();
        for (int i = 0; i < layers; i++) specs.add(MLA);
        StaticCache cache = new StaticCache(specs, 1, capacity, storage);
        for (int i = 0; i < layers; i++) {
            List<INDArray> l = new ArrayList<>();
            for (CacheTensor c : MLA) l.add(tokens(c, 0, t));
            cache.prefill(i, l);
        }
        cache.advance(t);
        return cache;
    }

    /**
     * What a decode step does to the cache: every layer appends the token at position() (its rows as {@link #tokens}),
     * then the sequence advances.
     */
    private static void step(StaticCache cache) {
        for (int i = 0; i < cache.layers(); i++) {
            cache.append(i);
            for (int j = 0; j < MLA.size(); j++) {
                float[] row = StaticCache.tokenRows(MLA.get(j), tokens(MLA.get(j), cache.position(), 1));
                cache.put(i, j, 0, row, 0);
            }
            cache.filled(i);
            cache.settle(i);
        }
        cache.advance(1);
    }

    @Test
    void prefillAndStepsWriteInPlaceAndReadsCoverTheFilledSlotsOnly() {
        StaticCache cache = cache(2, 3, 8, StaticCache.float32());
        CacheRows.Tile before = new CacheRows.Tile();
        cache.rows(1, 0).tile(0, 0, 3, before);
        for (int s = 0; s < 4; s++) step(cache);
        assertEquals(7, cache.length());
        assertEquals(7, cache.position());
        for (int j = 0; j < MLA.size(); j++) assertArrayEquals(new int[]{0, 1, 2, 3, 4, 5, 6}, tokenIds(cache, 1, j), MLA.get(j).name());
        CacheRows.Tile after = new CacheRows.Tile();
        cache.rows(1, 0).tile(0, 2, 5, after);
        assertSame(before.data, after.data, "the rows live in the array preallocated for the capacity");
        assertEquals(2 * 8, after.offset);
        assertEquals(8 * 8, after.data.length, "c_kv holds capacity 8 × 8 floats per sequence");
        // (8 + 8 + 1) values · 4 bytes · 7 tokens · 2 layers: only the filled slots count
        assertEquals(17 * 4 * 7 * 2, cache.bytesHeld());
        step(cache);
        IllegalStateException full = assertThrows(IllegalStateException.class, () -> step(cache));
        assertTrue(full.getMessage().contains("capacity"), full.getMessage());
    }

    @Test
    void evictionRemovesTheSameTokensFromEveryTensorOfALayer() {
        StaticCache cache = cache(2, 5, 5, StaticCache.float32());
        cache.keep(0, new int[]{1, 3, 4});
        cache.keep(1, new int[]{0, 2, 4});
        for (int j = 0; j < MLA.size(); j++) {
            assertArrayEquals(new int[]{1, 3, 4}, tokenIds(cache, 0, j), MLA.get(j).name());
            assertArrayEquals(new int[]{0, 2, 4}, tokenIds(cache, 1, j), MLA.get(j).name());
        }
        assertArrayEquals(new int[]{1, 3, 4}, cache.positions(0));
        // (8 + 8 + 1) values · 4 bytes · 3 tokens · 2 layers
        assertEquals(17 * 4 * 3 * 2, cache.bytesHeld());
        assertThrows(IllegalArgumentException.class, () -> cache.keep(0, new int[]{2, 1}));
    }

    @Test
    void positionsContinueAfterPruningWhileTheHeldLengthStaysAtTheBudget() {
        // A rule that drops the oldest token whenever more than 3 are held.
        StaticCache cache = cache(2, 3, 4, StaticCache.float32());
        for (int step = 0; step < 4; step++) {
            step(cache);
            for (int i = 0; i < 2; i++) {
                int t = cache.length(i);
                if (t > 3) cache.keep(i, new int[]{t - 3, t - 2, t - 1});
            }
            assertEquals(3, cache.length());
            assertEquals(4 + step, cache.position());
            int[] expected = {1 + step, 2 + step, 3 + step};
            for (int i = 0; i < 2; i++) {
                assertArrayEquals(expected, cache.positions(i));
                for (int j = 0; j < MLA.size(); j++) assertArrayEquals(expected, tokenIds(cache, i, j));
            }
        }
        CacheStats stats = new CacheStats(cache.position(), cache.length(), cache.bytesHeld());
        assertEquals(7, stats.tokensSeen());
        assertEquals(3, stats.tokensHeld());
        assertEquals(17 * 4 * 3 * 2, stats.bytesHeld());
        assertEquals(17 * 4 * 3 * 2 / 7.0, stats.bytesPerToken(), 1e-12);
    }

    @Test
    void layersMustEndWithEquallyManyTokens() {
        StaticCache cache = cache(2, 3, 5, StaticCache.float32());
        step(cache);
        cache.keep(0, new int[]{1, 2, 3});
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> step(cache));
        assertTrue(e.getMessage().contains("layer 1"), e.getMessage());
    }

    @Test
    void quantizedStorageCountsPackedBytesAndKeepsTheModalityTagExact() {
        // int8, residual 0: every token quantized at once. c_kv and k_rope rows of 8 values → one group each.
        StaticCache cache = cache(1, 4, 4, StaticCache.quantized(8, c -> (int) Math.min(64, c.valuesPerToken()), 0));
        // per token: c_kv 8 + 4, k_rope 8 + 4, modality 1 + 4 bytes
        assertEquals(4 * (12 + 12 + 5), cache.bytesHeld());
        float[] modality = cache.rowsOf(0, 2, 0);
        assertArrayEquals(new float[]{0, 100, 200, 300}, modality); // a 1-value group is stored exactly (scale 0, zero = value)
        float[] cKv = cache.rowsOf(0, 0, 0);
        float[] exact = StaticCache.tokenRows(MLA.get(0), tokens(MLA.get(0), 0, 4));
        double err = 0;
        for (int i = 0; i < exact.length; i++) err = Math.max(err, Math.abs(cKv[i] - exact[i]));
        // values 100t … 100t + 7 → scale ↑ 7/255; error ≤ scale/2
        assertTrue(err <= 7.0 / 255 / 2 + 1e-3 && err > 0, "c_kv int8 error " + err);
    }

    @Test
    void leftPaddingMasksTheLeadingPositionsOfOneSequence() {
        List<List<CacheTensor>> specs = List.of(MLA);
        StaticCache cache = new StaticCache(specs, 2, 6, StaticCache.float32());
        List<INDArray> prompt = new ArrayList<>();
        for (CacheTensor c : MLA) prompt.add(Nd4j.concat(0, tokens(c, 0, 4), tokens(c, 0, 4)));
        cache.prefill(0, prompt);
        cache.advance(4);
        cache.padding(1, 2);
        assertEquals(0, cache.paddedSlots(0, 0));
        assertEquals(2, cache.paddedSlots(0, 1));
        cache.keep(0, new int[]{1, 2, 3});
        assertEquals(1, cache.paddedSlots(0, 1), "position 1 is still padding after position 0 was evicted");
    }

    @Test
    void truncateDropsTheNewestTokensAndMovesThePositionBack() {
        StaticCache cache = cache(2, 3, 6, StaticCache.float32());
        step(cache);
        step(cache);
        cache.truncate(3);
        assertEquals(3, cache.length());
        assertEquals(3, cache.position());
        step(cache);
        assertArrayEquals(new int[]{0, 1, 2, 3}, tokenIds(cache, 0, 1));
    }
}
