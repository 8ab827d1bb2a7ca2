package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.Mha2MlaConverter;

/** Converted models written as Hugging Face folders and read back by {@link VlmLoader}. */
class ModelFolderTest {

    static List<MultimodalInput> calibration(String fixture) {
        return List.of(GoldenExamples.example(fixture, "c0", 4).input(), GoldenExamples.example(fixture, "c1", 4).input());
    }

    @Test
    void mlaAndPartialRopeFoldersReloadToTheSameModel(@TempDir Path tmp) throws Exception {
        for (String fixture : new String[] {"llava", "qwen2_5_vl"}) {
            Path in = TestFixtures.dir(fixture);
            try (VisionLanguageModel original = VlmLoader.load(in)) {
                Mha2MlaConverter.Options o = Mha2MlaConverter.Options.defaults(4).with(RopeStrategy.UNIFORM);
                Mha2MlaConverter.Result mla = Mha2MlaConverter.convert(original, calibration(fixture), o);
                Mha2MlaConverter.Result rope = Mha2MlaConverter.convert(original, calibration(fixture), o.with(Mha2MlaConfig.Step.ROPE));
                for (Mha2MlaConverter.Result r : List.of(mla, rope)) {
                    Path out = tmp.resolve(fixture + "-" + r.conversion().step().id());
                    ModelFolder.writeConverted(r.model(), in, out, DType.F32);
                    assertEquals(r.conversion(), HfConfigParser.readConversion(out));
                    assertTrue(Files.exists(out.resolve("tokenizer.json")) && Files.exists(out.resolve("chat_template.jinja")));
                    assertTrue(Files.exists(out.resolve(TransformersExport.MODULE_FILE)), "transformers export of " + out);
                    try (Checkpoint saved = Checkpoint.open(out)) {
                        String attn = fixture.equals("llava") ? "language_model.model.layers.1.self_attn." : "model.layers.1.self_attn.";
                        assertEquals(r.conversion().isMla(), saved.contains(attn + "kv_down_proj.visual.weight"));
                        assertEquals(!r.conversion().isMla(), saved.contains(attn + "k_proj.weight"));
                        assertEquals(DType.F32, saved.info(attn + "o_proj.weight").dtype());
                    }
                    try (VisionLanguageModel reloaded = VlmLoader.load(out)) {
                        assertEquals(r.conversion(), reloaded.conversion());
                        for (String c : new String[] {"c0", "c1"}) {
                            MultimodalInput x = GoldenExamples.example(fixture, c, 1).input();
                            double diff = reloaded.logits(x).sub(r.model().logits(x)).amaxNumber().doubleValue();
                            assertEquals(0.0, diff, 1e-6, fixture + " " + r.conversion().step().id() + " " + c + " reloaded logits");
                        }
                        MultimodalInput c0 = GoldenExamples.example(fixture, "c0", 1).input();
                        assertArrayEquals(r.model().generate(c0, 4, false), reloaded.generate(c0, 4, false));
                        assertEquals(r.model().kvCacheBytesPerToken(), reloaded.kvCacheBytesPerToken());
                    }
                }
            }
        }
    }

    @Test
    void anUnconvertedModelIsRefused(@TempDir Path tmp) {
        try (VisionLanguageModel original = VlmLoader.load(TestFixtures.dir("llava"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ModelFolder.writeConverted(original, TestFixtures.dir("llava"), tmp.resolve("x"), DType.F32));
            assertTrue(e.getMessage().contains("not converted"), e.getMessage());
            assertFalse(Files.exists(tmp.resolve("x")));
        }
    }
}
