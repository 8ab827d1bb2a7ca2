package org.mha2mla.layers.decode;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.tensor.Parallel;
import org.mha2mla.layers.text.DecoderAttention.CacheTensor;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The online softmax over tiles and slot ranges against softmax-then-weighted-sum in float64, on caches long enough
 * for several tiles and for a sequence split over the cores (merged maxima and sums), with a left-padded sequence,
 * the probabilities handed out, and float32 and int8 storage.
 */
class CachedAttentionTest {

    static final int HEADS = 3;
    static final int WIDTH = 20;
    static final CacheTensor KEYS = new CacheTensor("key", new long[]{-1, 1, -1, WIDTH}, 2);
    static final CacheTensor VALUES = new CacheTensor("value", new long[]{-1, 1, -1, WIDTH}, 2);

    /** Plain single-head-group attention: every head's query against the key rows, weighted value rows. */
    static final class Plain implements CachedAttention.Tiles {
        final float[] q;
        final StaticCache cache;

        Plain(float[] q, StaticCache cache) {
            this.q = q;
            this.cache = cache;
        }

        @Override
        public int heads() {
            return HEADS;
        }

        @Override
        public int width() {
            return WIDTH;
        }

        @Override
        public int modalities() {
            return 1;
        }

        @Override
        public void scores(CachedAttention.Work w, int b, int from, int n, float[] s, int sStride) {
            CacheRows.Tile k = w.tile(cache, 0, 0, b, from, n);
            for (int h = 0; h < HEADS; h++) {
                for (int t = 0; t < n; t++) {
                    float dot = 0;
                    for (int c = 0; c < WIDTH; c++) dot += q[(b * HEADS + h) * WIDTH + c] * k.data[k.offset + t * k.stride + c];
                    s[h * sStride + t] = dot * 0.5f;
                }
            }
        }

        @Override
        public void values(CachedAttention.Work w, int b, int from, int n, float[] p, int pStride, float[] acc) {
            CacheRows.Tile v = w.tile(cache, 0, 1, b, from, n);
            for (int h = 0; h < HEADS; h++) {
                for (int t = 0; t < n; t++) {
                    for (int c = 0; c < WIDTH; c++) acc[h * WIDTH + c] += p[h * pStride + t] * v.data[v.offset + t * v.stride + c];
                }
            }
        }
    }

    @Test
    void onlineSoftmaxOverTilesAndSplitsEqualsTheDirectSoftmax() {
        for (StaticCache.Storage storage : List.of(StaticCache.float32(), StaticCache.quantized(8, c -> WIDTH, 0))) {
            for (int batch : new int[]{1, 3}) {
                int length = 3 * CachedAttention.TILE + 77;     // several tiles, long enough to split a sequence
                assertEquals(Parallel.threads() / gcd(batch, Parallel.threads()), CachedAttention.splits(batch, length));
                Random rng = new Random(batch);
                StaticCache cache = new StaticCache(List.of(List.of(KEYS, VALUES)), batch, length, storage);
                List<INDArray> tensors = new ArrayList<>();
                for (int j = 0; j < 2; j++) {
                    float[] v = new float[batch * length * WIDTH];
                    // growing scores along the sequence: later tiles raise the running maximum (the rescaling path)
                    for (int i = 0; i < v.length; i++) v[i] = (float) (rng.nextGaussian() * (1 + 3.0 * ((i / WIDTH) % length) / length));
                    tensors.add(Nd4j.create(v, new long[]{batch, 1, length, WIDTH}, 'c'));
                }
                cache.prefill(0, tensors);
                cache.advance(length);
                if (batch > 1) cache.padding(1, 5);
                float[] q = new float[batch * HEADS * WIDTH];
                for (int i = 0; i < q.length; i++) q[i] = (float) rng.nextGaussian();

                float[] out = new float[batch * HEADS * WIDTH];
                float[] probs = new float[batch * HEADS * (length + 3)];
                new CachedAttention(2).run(new Plain(q, cache), cache, 0, batch, out, probs, length + 3);

                double worstOut = 0;
                double worstProb = 0;
                for (int b = 0; b < batch; b++) {
                    float[] keys = cache.rowsOf(0, 0, b);
                    float[] values = cache.rowsOf(0, 1, b);
                    int padded = b == 1 ? 5 : 0;
                    for (int h = 0; h < HEADS; h++) {
                        double[] s = new double[length];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int t = padded; t < length; t++) {
                            for (int c = 0; c < WIDTH; c++) s[t] += (double) q[(b * HEADS + h) * WIDTH + c] * keys[t * WIDTH + c];
                            s[t] *= 0.5;
                            max = Math.max(max, s[t]);
                        }
                        double sum = 0;
                        for (int t = padded; t < length; t++) sum += Math.exp(s[t] - max);
                        for (int c = 0; c < WIDTH; c++) {
                            double ref = 0;
                            for (int t = padded; t < length; t++) ref += Math.exp(s[t] - max) / sum * values[t * WIDTH + c];
                            worstOut = Math.max(worstOut, Math.abs(ref - out[(b * HEADS + h) * WIDTH + c]));
                        }
                        for (int t = 0; t < length; t++) {
                            double ref = t < padded ? 0 : Math.exp(s[t] - max) / sum;
                            // relative: a float32 score s carries an error of ~1e-7·|s|, which e^s turns into a relative one
                            worstProb = Math.max(worstProb, Math.abs(ref - probs[(b * HEADS + h) * (length + 3) + t]) / (ref + 1e-9));
                        }
                    }
                }
                System.out.printf("online softmax, batch %d, %d slots: output max abs err %.2e, probabilities max relative err %.2e%n",
                        batch, length, worstOut, worstProb);
                assertTrue(worstOut <= 5e-5, "output error " + worstOut);       // values up to ≈ ±16, scores up to ≈ ±40
                assertTrue(worstProb <= 5e-5, "probability error " + worstProb);
            }
        }
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }
}
