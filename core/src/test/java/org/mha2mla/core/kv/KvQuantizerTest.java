package org.mha2mla.core.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class KvQuantizerTest {

    @Test
    void roundTripErrorIsAtMostHalfAStep() {
        Random r = new Random(3);
        float[] data = new float[6 * 128];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) (r.nextGaussian() * (1 + (i / 64) % 5)) + ((i / 64) % 3 == 0 ? 10f : 0f);
        }
        INDArray x = Nd4j.create(data, new long[] {2, 3, 128}, DataType.FLOAT);
        for (int bits : new int[] {8, 4, 2}) {
            for (int group : new int[] {32, 64, 128}) {
                KvQuantizer quantizer = new KvQuantizer(bits, group);
                QuantizedTensor q = quantizer.quantize(x);
                INDArray back = quantizer.dequantize(q);
                assertArrayEquals(x.shape(), back.shape());
                float[] y = back.reshape(data.length).toFloatVector();
                double worstRatio = 0;
                for (int i = 0; i < data.length; i++) {
                    float scale = q.scale(i / group);
                    double err = Math.abs(data[i] - y[i]);
                    assertTrue(err <= scale / 2 + 1e-6 * Math.abs(data[i]) + 1e-7,
                            bits + "-bit group " + group + " element " + i + ": error " + err + " > scale/2 " + scale / 2);
                    worstRatio = Math.max(worstRatio, err / scale);
                }
                // The bound is attained in practice (errors spread over [0, scale/2]).
                assertTrue(worstRatio > 0.4, "worst error/scale " + worstRatio);
                assertEquals(data.length / group, q.groups());
                assertEquals(quantizer.bytes(data.length), q.byteSize());
            }
        }
    }

    @Test
    void valuesOnTheGridComeBackExactly() {
        // zero −1.5 and scale 0.125 are fp16-exact; each group holds both grid ends (codes 0 and 15),
        // so min/max reproduce zero and scale exactly and every code is recovered.
        int[] codes = {0, 15, 3, 7, 7, 12, 1, 9, 15, 0, 14, 2, 5, 11, 8, 6};
        float[] data = new float[codes.length];
        for (int i = 0; i < codes.length; i++) {
            data[i] = -1.5f + codes[i] * 0.125f;
        }
        KvQuantizer quantizer = new KvQuantizer(4, 8);
        QuantizedTensor q = quantizer.quantize(Nd4j.create(data, new long[] {1, 16}, DataType.FLOAT));
        for (int i = 0; i < codes.length; i++) {
            assertEquals(codes[i], q.code(i), "code " + i);
        }
        assertEquals(0.125f, q.scale(0));
        assertEquals(-1.5f, q.zeroPoint(1));
        assertArrayEquals(data, quantizer.dequantize(q).reshape(16).toFloatVector(), 0f);

        // int2 grid: codes 0..3 with scale 0.5 and zero 2
        float[] grid2 = {2f, 3.5f, 2.5f, 3f};
        KvQuantizer q2 = new KvQuantizer(2, 4);
        QuantizedTensor t2 = q2.quantize(Nd4j.createFromArray(grid2));
        assertArrayEquals(grid2, q2.dequantize(t2).toFloatVector(), 0f);
        assertEquals(1, t2.packed().length);

        // int8 grid: one code per byte, zero −1 and scale 2^-7 (both fp16-exact), codes 0 and 255 present
        int[] codes8 = {0, 255, 100, 37};
        float[] grid8 = new float[codes8.length];
        for (int i = 0; i < codes8.length; i++) {
            grid8[i] = -1f + codes8[i] * 0x1p-7f;
        }
        KvQuantizer q8 = new KvQuantizer(8, 4);
        QuantizedTensor t8 = q8.quantize(Nd4j.createFromArray(grid8));
        for (int i = 0; i < codes8.length; i++) {
            assertEquals(codes8[i], t8.code(i), "int8 code " + i);
        }
        assertArrayEquals(grid8, q8.dequantize(t8).toFloatVector(), 0f);
        assertEquals(4, t8.packed().length);
        assertEquals(4 + 4, t8.byteSize());
    }

    @Test
    void constantGroupsAreExactAndBadInputsRejected() {
        KvQuantizer quantizer = new KvQuantizer(4, 4);
        float[] c = {0.75f, 0.75f, 0.75f, 0.75f};
        assertArrayEquals(c, quantizer.dequantize(quantizer.quantize(Nd4j.createFromArray(c))).toFloatVector(), 0f);
        assertThrows(IllegalArgumentException.class, () -> quantizer.quantize(Nd4j.zeros(DataType.FLOAT, 2, 6)));
        assertThrows(IllegalArgumentException.class, () -> new KvQuantizer(3, 32));
        assertThrows(IllegalArgumentException.class,
                () -> quantizer.quantize(Nd4j.createFromArray(new float[] {1, Float.NaN, 2, 3})));
    }

    @Test
    void floatArrayOverloadEqualsTheNdArrayPath() {
        Random r = new Random(9);
        float[] v = new float[3 * 32];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        KvQuantizer q = new KvQuantizer(4, 16);
        QuantizedTensor a = q.quantize(Nd4j.create(v, new long[] {3, 32}, DataType.FLOAT));
        QuantizedTensor b = q.quantize(v, new long[] {3, 32});
        assertArrayEquals(a.packed(), b.packed());
        assertArrayEquals(a.scales(), b.scales());
        assertArrayEquals(a.zeroPoints(), b.zeroPoints());
        assertArrayEquals(a.shape(), b.shape());
        assertThrows(IllegalArgumentException.class, () -> q.quantize(v, new long[] {2, 32}));
        assertThrows(IllegalArgumentException.class, () -> q.quantize(new float[24], new long[] {24}));
    }

    @Test
    void bytesFormula() {
        // Qwen2.5-VL-7B MLA cache, d_kv 64 + d_r 32 per KV head, 4 KV heads: 384 values per token per layer.
        // int4, group 64: 384·4/8 = 192 code bytes + 6 groups · (2 + 2) = 24 → 216 bytes (fp16: 768).
        assertEquals(216, KvQuantizer.bytes(384, 4, 64));
        // int2, group 32: 96 + 12·4 = 144
        assertEquals(144, KvQuantizer.bytes(384, 2, 32));
        // odd counts round the packed part up: 5 int4 values → 3 bytes + 1 group
        assertEquals(3 + 4, KvQuantizer.bytes(5, 4, 8));
        assertEquals(3 + 4, new KvQuantizer(4, 8).quantize(Nd4j.zeros(DataType.FLOAT, 1, 8)).byteSize() - 1);
    }
}
