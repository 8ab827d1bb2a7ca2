package org.mha2mla.layers.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.layers.text.DecoderAttention;

/**
 * The absorbed MLA decode step over the latent cache in general form — batches of sequences with random modality
 * patterns, a left-padded sequence — against the full-sequence training graph (K and V materialised), converted with
 * MD-SVD (per-modality factors) and joint SVD, with biases (Qwen2.5-VL) and without (LLaVA, LLaVA-NeXT, GQA group 4).
 */
class MlaStepTest {

    static final int T0 = 9;     // prompt tokens
    static final int STEPS = 2;  // decode steps

    /** The fixture converted at d_kv = 3 (a truncating rank), MKL partial RoPE at d_r = d_h/4. */
    private static VisionLanguageModel convert(String fixture, SvdMethod svd) {
        VisionLanguageModel original = VlmLoader.load(Fixtures.dir(fixture));
        List<MultimodalInput> calib = List.of(Fixtures.input(fixture, "c0"), Fixtures.input(fixture, "c1"));
        return Mha2MlaConverter.convert(original, calib, Mha2MlaConverter.Options.defaults(3).with(svd)).model();
    }

    @Test
    void batchedDecodeWithPaddingOverTheLatentCacheEqualsTheFullPass() {
        for (SvdMethod svd : new SvdMethod[] {SvdMethod.MD, SvdMethod.SVD_LLM}) {
            VisionLanguageModel model = convert("llava_next", svd);
            List<DecoderAttention.CacheTensor> cache = model.decoder().cacheTensors(0);
            assertArrayEquals(new long[] {-1, 1, -1, 2 * 3}, cache.get(0).shape());                  // c_kv: n_kv·d_kv = 6
            assertArrayEquals(new long[] {-1, 2, -1, 2}, cache.get(1).shape());                      // k_rope: d_r = 2
            assertEquals(svd == SvdMethod.MD ? 3 : 2, cache.size());                                  // modality tag only when decoupled
            FullPassCheck.Result r = FullPassCheck.run(model, 2, T0, STEPS, 7, true);
            System.out.printf("MLA (%s) batch 2, padded, %d decode steps vs full pass: relative max abs %.2e%n", svd.id(), STEPS, r.relative());
            assertTrue(r.relative() < 1e-5, svd + ": " + r.relative());
        }
    }

    @ParameterizedTest
    @CsvSource({"qwen2_5_vl, MD, 1", "qwen2_5_vl, MD, 3", "qwen2_5_vl, SVD_LLM, 3", "llava, MD, 1", "llava, MD, 3"})
    void decodeStepsEqualTheFullPass(String fixture, SvdMethod svd, int batch) {
        VisionLanguageModel model = convert(fixture, svd);
        FullPassCheck.Result r = FullPassCheck.run(model, batch, 11, 5, 11, false);
        System.out.printf("%s MLA (%s) batch %d: decode steps vs full pass max abs %.2e (relative %.2e)%n", fixture, svd.id(), batch,
                r.maxAbs(), r.relative());
        assertTrue(r.maxAbs() <= 1e-4, fixture + " " + svd + " batch " + batch + ": " + r.maxAbs());
    }
}
