package org.mha2mla.layers.generation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.mha2mla.layers.text.DecoderAttention.CacheTensor;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The cache over MLA-shaped tensors (three layouts, three sequence axes): eviction keeps them aligned. */
class KvCacheTest {

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

    /** The token (first value / 100) at each position along the tensor's sequence axis. */
    static int[] tokenIds(CacheTensor spec, INDArray a) {
        TokenRows rows = TokenRows.of(spec, a);
        int t = rows.tokens(a);
        float[] flat = rows.rows(a, 0, t);
        int[] ids = new int[t];
        for (int k = 0; k < t; k++) {
            ids[k] = Math.round(flat[k * rows.rowLength] / 100);
            for (int j = 0; j < rows.rowLength; j++) assertEquals(100f * ids[k] + j, flat[k * rows.rowLength + j], 1e-3f);
        }
        return ids;
    }

    private static KvCache cache(int layers, int t, CachePolicy policy) {
        List<List<CacheTensor>> specs = new ArrayList<>();
        List<List<INDArray>> tensors = new ArrayList<>();
        for (int i = 0; i < layers; i++) {
            specs.add(MLA);
            List<INDArray> l = new ArrayList<>();
            for (CacheTensor c : MLA) l.add(tokens(c, 0, t));
            tensors.add(l);
        }
        return KvCache.of(specs, tensors, t, policy);
    }

    /** Step outputs holding tokens 0..t−1 (the last one new) for every layer, with uniform attention over the held tokens. */
    private static Map<String, INDArray> stepOutputs(KvCache cache, int layers) {
        Map<String, INDArray> out = new HashMap<>();
        for (int i = 0; i < layers; i++) {
            int[] held = cache.positions(i);
            for (CacheTensor c : MLA) {
                INDArray prev = cache.tensors().get(i).get(MLA.indexOf(c));
                out.put(TextDecoder.STEP + TextDecoder.present(i, c.name()),
                        Nd4j.concat(c.seqAxis(), prev, tokens(c, cache.position(), 1)));
            }
            out.put(TextDecoder.STEP + TextDecoder.attentionProbs(i), Nd4j.ones(DataType.FLOAT, 1, 2, 1, held.length + 1).divi(held.length + 1));
        }
        return out;
    }

    @Test
    void evictionRemovesTheSameTokensFromEveryTensorOfALayer() {
        KvCache cache = cache(2, 5, CachePolicy.FULL);
        cache.keep(0, new int[]{1, 3, 4});
        cache.keep(1, new int[]{0, 2, 4});
        for (int j = 0; j < MLA.size(); j++) {
            assertArrayEquals(new int[]{1, 3, 4}, tokenIds(MLA.get(j), cache.tensors().get(0).get(j)), MLA.get(j).name());
            assertArrayEquals(new int[]{0, 2, 4}, tokenIds(MLA.get(j), cache.tensors().get(1).get(j)), MLA.get(j).name());
        }
        assertArrayEquals(new int[]{1, 3, 4}, cache.positions(0));
        // (8 + 8 + 1) values · 4 bytes · 3 tokens · 2 layers
        assertEquals(17 * 4 * 3 * 2, cache.bytesHeld());
        assertThrows(IllegalArgumentException.class, () -> cache.keep(0, new int[]{2, 1}));
    }

    @Test
    void positionsContinueAfterPruningWhileTheHeldLengthStaysAtTheBudget() {
        // A rule that drops the oldest token whenever more than 3 are held.
        CachePruning dropOldest = new CachePruning() {
            @Override
            public Evictor start(int promptLength, int layers) {
                return (layer, probs) -> {
                    int t = (int) probs.size(3);
                    if (t <= 3) return null;
                    int[] keep = new int[3];
                    for (int k = 0; k < 3; k++) keep[k] = t - 3 + k;
                    return keep;
                };
            }

            @Override
            public String label() {
                return "drop-oldest";
            }
        };
        KvCache cache = cache(2, 3, CachePolicy.pruned(dropOldest));
        for (int step = 0; step < 4; step++) {
            cache.update(stepOutputs(cache, 2), 1);
            assertEquals(3, cache.length());
            assertEquals(4 + step, cache.position());
            int[] expected = {1 + step, 2 + step, 3 + step};
            for (int i = 0; i < 2; i++) {
                assertArrayEquals(expected, cache.positions(i));
                for (int j = 0; j < MLA.size(); j++) assertArrayEquals(expected, tokenIds(MLA.get(j), cache.tensors().get(i).get(j)));
            }
        }
        CacheStats stats = cache.stats();
        assertEquals(7, stats.tokensSeen());
        assertEquals(3, stats.tokensHeld());
        assertEquals(17 * 4 * 3 * 2, stats.bytesHeld());
        assertEquals(17 * 4 * 3 * 2 / 7.0, stats.bytesPerToken(), 1e-12);
    }

    @Test
    void layersMustEndWithEquallyManyTokens() {
        CachePruning onlyLayer0 = new CachePruning() {
            @Override
            public Evictor start(int promptLength, int layers) {
                return (layer, probs) -> layer == 0 ? new int[]{1, 2, 3} : null;
            }

            @Override
            public String label() {
                return "uneven";
            }
        };
        KvCache cache = cache(2, 3, CachePolicy.pruned(onlyLayer0));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> cache.update(stepOutputs(cache, 2), 1));
        assertTrue(e.getMessage().contains("layer 1"), e.getMessage());
    }

    @Test
    void quantizedStorageCountsPackedBytesAndKeepsTheModalityTagExact() {
        // int8, residual 0: every token quantized at once. c_kv and k_rope rows of 8 values → one group each.
        KvCache cache = cache(1, 4, CachePolicy.quantized(new KvQuantization(8, 64, 0)));
        // per token: c_kv 8 + 4, k_rope 8 + 4, modality 1 + 4 bytes
        assertEquals(4 * (12 + 12 + 5), cache.bytesHeld());
        INDArray modality = cache.tensors().get(0).get(2);
        assertEquals(tokens(MLA.get(2), 0, 4), modality); // a 1-value group is stored exactly (scale 0, zero = value)
        INDArray cKv = cache.tensors().get(0).get(0);
        INDArray exact = tokens(MLA.get(0), 0, 4);
        // values 100t … 100t + 7 → scale ↑ 7/255; error ≤ scale/2
        double err = cKv.sub(exact).amaxNumber().doubleValue();
        assertTrue(err <= 7.0 / 255 / 2 + 1e-3 && err > 0, "c_kv int8 error " + err);
    }
}
