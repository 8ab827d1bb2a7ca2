package org.mha2mla.layers.decode;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.Mha2MlaConverter;

/**
 * The eager decode step of the original and the partial-RoPE attention ({@link GqaStep}) against the whole-model
 * graph's full pass, on the three fixtures: LLaVA (MHA, 4 heads, no biases), LLaVA-NeXT (GQA 8/2), Qwen2.5-VL (GQA
 * with q/k/v biases), batches of 1 and 3.
 */
class DecodeStepTest {

    @ParameterizedTest
    @CsvSource({"llava, 1", "llava, 3", "llava_next, 1", "llava_next, 3", "qwen2_5_vl, 1", "qwen2_5_vl, 3"})
    void originalAttentionStepsEqualTheFullPass(String fixture, int batch) {
        VisionLanguageModel model = VlmLoader.load(Fixtures.dir(fixture));
        FullPassCheck.Result r = FullPassCheck.run(model, batch, 11, 5, 3, false);
        System.out.printf("%s GQA batch %d: decode steps vs full pass max abs %.2e (relative %.2e)%n", fixture, batch, r.maxAbs(), r.relative());
        assertTrue(r.maxAbs() <= 1e-4, fixture + " batch " + batch + ": " + r.maxAbs());
    }

    @ParameterizedTest
    @CsvSource({"llava_next, 1", "llava_next, 3", "qwen2_5_vl, 1", "qwen2_5_vl, 3"})
    void partialRopeStepsEqualTheFullPass(String fixture, int batch) {
        VisionLanguageModel original = VlmLoader.load(Fixtures.dir(fixture));
        VisionLanguageModel model = Mha2MlaConverter.convert(original, List.of(Fixtures.input(fixture, "c0"), Fixtures.input(fixture, "c1")),
                Mha2MlaConverter.Options.defaults(4).with(Mha2MlaConfig.Step.ROPE)).model();
        FullPassCheck.Result r = FullPassCheck.run(model, batch, 11, 5, 5, false);
        System.out.printf("%s partial RoPE batch %d: decode steps vs full pass max abs %.2e (relative %.2e)%n", fixture, batch, r.maxAbs(), r.relative());
        assertTrue(r.maxAbs() <= 1e-4, fixture + " batch " + batch + ": " + r.maxAbs());
    }
}
