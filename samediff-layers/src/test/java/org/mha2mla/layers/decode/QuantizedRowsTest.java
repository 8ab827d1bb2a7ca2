package org.mha2mla.layers.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.kv.Fp16;
import org.mha2mla.core.kv.KvQuantizer;
import org.mha2mla.layers.text.DecoderAttention.CacheTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** The quantized rows against the closed form of per-group asymmetric quantization, computed here independently. */
class QuantizedRowsTest {

    /** GQA-like key [1, n_kv 2, T, d_h 16], groups of 16 = one head's row per group. */
    private static final CacheTensor KEY = new CacheTensor("key", new long[]{-1, 2, -1, 16}, 2);

    private static INDArray gaussian(long seed, long... shape) {
        Random r = new Random(seed);
        float[] v = new float[(int) java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * (1 + i % 7)) + (i % 16 == 3 ? 5f : 0f);
        return Nd4j.create(v, shape, DataType.FLOAT);
    }

    /**
     * For every token and group of 16 values (x over the group): zero = fp16 ↓ min, scale = fp16 ↑ (max − zero)/(2^b − 1);
     * x̂ must lie on the grid zero + k·scale and within scale/2 of x. Returns the worst |x − x̂| / scale.
     */
    static double checkClosedForm(INDArray x, INDArray back, int bits) {
        int qmax = (1 << bits) - 1;
        double worst = 0;
        for (int h = 0; h < x.size(1); h++) {
            for (int t = 0; t < x.size(2); t++) {
                float[] v = x.get(NDArrayIndex.point(0), NDArrayIndex.point(h), NDArrayIndex.point(t), NDArrayIndex.all()).toFloatVector();
                float[] b = back.get(NDArrayIndex.point(0), NDArrayIndex.point(h), NDArrayIndex.point(t), NDArrayIndex.all()).toFloatVector();
                double min = Double.POSITIVE_INFINITY;
                double max = Double.NEGATIVE_INFINITY;
                for (float f : v) {
                    min = Math.min(min, f);
                    max = Math.max(max, f);
                }
                double zero = Fp16.toFloat(Fp16.roundDown(min));
                double scale = Fp16.toFloat(Fp16.roundUp((max - zero) / qmax));
                for (int i = 0; i < v.length; i++) {
                    double err = Math.abs(v[i] - b[i]);
                    assertTrue(err <= scale / 2 + 1e-6 * Math.abs(v[i]) + 1e-7,
                            "int" + bits + " head " + h + " token " + t + " value " + i + ": |x − x̂| " + err + " > scale/2 " + scale / 2);
                    double k = (b[i] - zero) / scale;
                    assertEquals(Math.rint(k), k, 1e-3, "x̂ off the grid");
                    worst = Math.max(worst, err / scale);
                }
            }
        }
        return worst;
    }

    /** Rows holding the prompt x [1, 2, T, 16] (all of it quantized, as after a prefill), capacity for 12 tokens. */
    private static QuantizedRows store(INDArray x, int bits, int residual) {
        QuantizedRows s = new QuantizedRows(1, 12, 32, new KvQuantizer(bits, 16), residual);
        int t = (int) x.size(2);
        s.putPrefill(0, StaticCache.tokenRows(KEY, x), 0, t);
        s.filledByPrefill(t);
        return s;
    }

    /** A decoded token: the row of token t of x written into the next slot, then the step ends. */
    private static void append(QuantizedRows s, INDArray x, int t) {
        INDArray token = x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(t, t + 1), NDArrayIndex.all()).dup();
        s.put(0, StaticCache.tokenRows(KEY, token), 0);
        s.filled();
        s.settle();
    }

    /** The held rows as a tensor in the key's layout [1, 2, T, 16]. */
    private static INDArray floats(QuantizedRows s) {
        CacheRows.Tile tile = new CacheRows.Tile();
        int t = s.size();
        s.tile(0, 0, t, tile);
        float[] rows = new float[t * 32];
        for (int i = 0; i < t; i++) System.arraycopy(tile.data, tile.offset + i * tile.stride, rows, i * 32, 32);
        return Nd4j.create(rows, new long[]{1, t, 2, 16}, 'c').permute(0, 2, 1, 3).dup('c');
    }

    @Test
    void roundTripWithinHalfAScalePerGroup() {
        INDArray x = gaussian(7, 1, 2, 6, 16);
        for (int bits : new int[]{8, 4, 2}) {
            QuantizedRows s = store(x, bits, 128);
            INDArray back = floats(s);
            assertArrayEquals(x.shape(), back.shape());
            double worst = checkClosedForm(x, back, bits);
            assertTrue(worst > 0.3, "int" + bits + ": the bound should be nearly reached, worst error/scale " + worst);
            // 6 tokens · (32 values · bits/8 + 2 groups · 4 bytes)
            assertEquals(6L * (32 * bits / 8 + 8), s.bytes(), "int" + bits + " bytes");
        }
    }

    @Test
    void residualStaysExactUntilItFillsThenIsQuantized() {
        INDArray x = gaussian(11, 1, 2, 9, 16);          // 6 prompt tokens, then 3 decoded ones
        INDArray prompt = x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 6), NDArrayIndex.all()).dup();
        QuantizedRows s = store(prompt, 4, 3);
        long quantizedToken = 32 * 4 / 8 + 8;              // 24 bytes
        for (int t = 7; t <= 8; t++) {
            append(s, x, t - 1);
            assertEquals(t - 6, s.residualTokens());
            assertEquals(6 * quantizedToken + (t - 6) * 32L * 4, s.bytes());
            INDArray back = floats(s);
            for (int k = 6; k < t; k++) { // residual tokens come back bit for bit
                assertEquals(x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(k), NDArrayIndex.all()),
                        back.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(k), NDArrayIndex.all()));
            }
        }
        // The third decoded token would make the residual 3 = residual_length: all three are quantized.
        append(s, x, 8);
        assertEquals(0, s.residualTokens());
        assertEquals(9 * quantizedToken, s.bytes());
        checkClosedForm(x, floats(s), 4);
    }

    @Test
    void evictionDropsTokensAcrossQuantizedAndResidualParts() {
        INDArray x = gaussian(5, 1, 2, 5, 16);
        INDArray prompt = x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 4), NDArrayIndex.all()).dup();
        QuantizedRows s = store(prompt, 8, 128);
        append(s, x, 4);                                   // tokens 0–3 quantized, 4 in the residual
        INDArray all = floats(s);
        s.keep(new int[]{1, 3, 4});
        assertEquals(3, s.size());
        INDArray kept = floats(s);
        int[] from = {1, 3, 4};
        for (int k = 0; k < 3; k++) {
            assertEquals(all.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(from[k]), NDArrayIndex.all()),
                    kept.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(k), NDArrayIndex.all()));
        }
        assertEquals(2 * (32 + 8) + 32L * 4, s.bytes());
        // the evicted slots are reused: the next token lands after the kept ones
        append(s, x, 0);
        assertEquals(4, s.size());
        assertEquals(x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(0), NDArrayIndex.all()),
                floats(s).get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(3), NDArrayIndex.all()), "a residual row is exact");
    }
}
