package org.mha2mla.core.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class KvCacheAccountingTest {

    @Test
    void qwen25Vl7bMatchesThePaperTable1() {
        // 28 heads, 4 KV heads, d_h 128, 28 layers; d_kv 64, d_r 32:
        // MLA 4·(64+32) = 384 values; MHA-equivalent 2·28·128 = 7168 → 384/7168 − 1 = −94.64%;
        // real GQA cache 2·4·128 = 1024 → −62.50%.
        KvCacheAccounting.Report r = KvCacheAccounting.report(28, 28, 4, 128, 64, 32, 2, true);
        assertEquals(384, r.mlaValuesPerLayer());
        assertEquals(7168, r.mhaEquivalentValuesPerLayer());
        assertEquals(1024, r.originalValuesPerLayer());
        assertEquals(-94.64, round2(r.reductionVsMhaEquivalent()));
        assertEquals(-62.50, round2(r.reductionVsOriginal()));
        assertEquals(1024L * 28 * 2, r.originalBytesPerToken());
        assertEquals(384L * 28 * 2, r.mlaBytesPerToken());
        assertEquals(1, r.modalityTagBytesPerToken());
        // d_kv 32: 4·64 = 256 → −96.43% / −75.00%; d_kv 128: 4·160 = 640 → −91.07% / −37.50%
        assertEquals(-96.43, round2(KvCacheAccounting.report(28, 28, 4, 128, 32, 32, 2, true).reductionVsMhaEquivalent()));
        assertEquals(-75.00, round2(KvCacheAccounting.report(28, 28, 4, 128, 32, 32, 2, true).reductionVsOriginal()));
        assertEquals(-91.07, round2(KvCacheAccounting.report(28, 28, 4, 128, 128, 32, 2, true).reductionVsMhaEquivalent()));
    }

    @Test
    void llava15And8bFromTheFormula() {
        // llava-1.5-7b: MHA, 32 heads = 32 KV heads, d_h 128: both references are 2·32·128 = 8192.
        // d_kv 64, d_r 32 → 32·96 = 3072 → −62.50%; d_kv 32 → 32·64 = 2048 → −75.00%.
        KvCacheAccounting.Report llava = KvCacheAccounting.report(32, 32, 32, 128, 64, 32, 2, false);
        assertEquals(8192, llava.originalValuesPerLayer());
        assertEquals(8192, llava.mhaEquivalentValuesPerLayer());
        assertEquals(3072, llava.mlaValuesPerLayer());
        assertEquals(-62.50, round2(llava.reductionVsOriginal()));
        assertEquals(-62.50, round2(llava.reductionVsMhaEquivalent()));
        assertEquals(0, llava.modalityTagBytesPerToken());
        assertEquals(-75.00, round2(KvCacheAccounting.report(32, 32, 32, 128, 32, 32, 2, true).reductionVsOriginal()));
        // llama3-llava-next-8b: 32 heads, 8 KV heads: original 2048, MHA-equivalent 8192.
        // d_kv 64 → 8·96 = 768 → −62.50% / −90.625%; d_kv 128 → 8·160 = 1280 → −37.50% / −84.375%.
        KvCacheAccounting.Report next = KvCacheAccounting.report(32, 32, 8, 128, 64, 32, 2, true);
        assertEquals(2048, next.originalValuesPerLayer());
        assertEquals(768, next.mlaValuesPerLayer());
        assertEquals(-62.50, round2(next.reductionVsOriginal()));
        assertEquals(-90.625, next.reductionVsMhaEquivalent(), 1e-12);
        assertEquals(-84.375, KvCacheAccounting.report(32, 32, 8, 128, 128, 32, 2, true).reductionVsMhaEquivalent(), 1e-12);
    }

    @Test
    void formulasAndValidation() {
        assertEquals(2 * 8 * 64, KvCacheAccounting.originalValues(8, 64));
        assertEquals(2 * 32 * 64, KvCacheAccounting.mhaEquivalentValues(32, 64));
        assertEquals(8 * (16 + 16), KvCacheAccounting.mlaValues(8, 16, 16));
        assertEquals(-50.0, KvCacheAccounting.reductionPercent(50, 100), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> KvCacheAccounting.report(1, 30, 4, 128, 64, 32, 2, true));
        assertThrows(IllegalArgumentException.class, () -> KvCacheAccounting.mlaValues(4, 0, 0));
    }

    private static double round2(double x) {
        return Math.round(x * 100) / 100.0;
    }
}
