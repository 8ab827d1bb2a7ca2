package org.mha2mla.importers.processor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.mha2mla.importers.HfFixtures;

/** LlavaNextProcessor on the llava_next fixture: 16 base tokens + 4×8 unpadded tile features + 4 newlines = 52. */
class LlavaNextProcessorTest {

    @Test
    void bothCasesMatchTransformers() {
        double err = GoldenCases.check("llava_next", 0);
        System.out.printf("llava_next c0 input_ids identical, pixel_values max abs err %.3e%n", err);
        assertTrue(err < 1e-5, "pixel err " + err);
        assertEquals(0.0, GoldenCases.check("llava_next", 1));
    }

    @Test
    void numberOfFeaturesIsBasePlusUnpaddedGridPlusNewlines() {
        try (LlavaNextProcessor p = (LlavaNextProcessor) VlmProcessor.load(HfFixtures.dir("llava_next"))) {
            assertEquals(52, p.tokensPerImage(83, 150, 56, 56));
            // The same image transposed (150 high, 83 wide): still pinpoint 112×112, an 8×8 grid, now cut by columns:
            // new width int(83·8/150) = 4, padding (8 − 4) // 2 = 2 each side → 8 rows × 4 columns + 8 newlines.
            assertEquals(16 + 8 * 4 + 8, p.tokensPerImage(150, 83, 56, 56));
        }
        // a square image on a square grid has no padding to cut
        assertArrayEquals(new int[]{64, 8}, LlavaNextProcessor.unpaddedFeatures(100, 100, 4, 4, 2, 2));
        // llava-v1.6 (336 px tiles, 24 patches) on a 672×672 pinpoint, 640×480 image: rows cut from 48 to int(480·48/640) = 36
        assertArrayEquals(new int[]{36 * 48, 36}, LlavaNextProcessor.unpaddedFeatures(480, 640, 24, 24, 2, 2));
    }

    @Test
    void roundsLikePythonRoundTo7Places() {
        assertEquals(3, LlavaNextProcessor.roundTo7Truncated(2.99999999));    // round(x, 7) = 3.0 before int()
        assertEquals(4, LlavaNextProcessor.roundTo7Truncated(83 * (8.0 / 150)));
    }
}
