package org.mha2mla.layers.generation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.mha2mla.layers.text.DecoderAttention.CacheTensor;

class KvQuantizationTest {

    private static final CacheTensor KEY = new CacheTensor("key", new long[]{-1, 2, -1, 64}, 2);      // 128 values/token
    private static final CacheTensor C_KV = new CacheTensor("c_kv", new long[]{-1, -1, 48}, 1);       // 48 values/token
    private static final CacheTensor MODALITY = new CacheTensor("modality", new long[]{-1, -1}, 1);   // 1 value/token

    @Test
    void groupIsTheDefaultOrTheTokenRowWhenSmaller() {
        KvQuantization int4 = KvQuantization.of(4);
        assertEquals(64, int4.groupSize());
        assertEquals(128, int4.residualLength());
        assertEquals(64, int4.groupSizeFor(KEY));
        assertEquals(48, int4.groupSizeFor(C_KV));
        assertEquals(1, int4.groupSizeFor(MODALITY));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new KvQuantization(4, 32, 0).groupSizeFor(C_KV));
        assertTrue(e.getMessage().contains("c_kv") && e.getMessage().contains("48"), e.getMessage());
    }

    @Test
    void bytesPerTokenCountCodesScalesAndZeros() {
        // key int4 g64: 128·4/8 = 64 code bytes + 2 groups · 4 = 72; int2: 32 + 8 = 40; int8: 128 + 8 = 136
        assertEquals(72, KvQuantization.of(4).bytesPerToken(KEY));
        assertEquals(40, KvQuantization.of(2).bytesPerToken(KEY));
        assertEquals(136, KvQuantization.of(8).bytesPerToken(KEY));
        // the 1-value modality tag: one code byte + fp16 scale and zero
        assertEquals(5, KvQuantization.of(4).bytesPerToken(MODALITY));
    }

    @Test
    void rejectsOtherBitWidthsAndBadSizes() {
        assertThrows(IllegalArgumentException.class, () -> KvQuantization.of(3));
        assertThrows(IllegalArgumentException.class, () -> new KvQuantization(4, 0, 128));
        assertThrows(IllegalArgumentException.class, () -> new KvQuantization(4, 64, -1));
        assertEquals("int2-g32-r0", new KvQuantization(2, 32, 0).label());
    }
}
