package org.mha2mla.importers.processor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.HfFixtures;

/** LlavaProcessor on the llava fixture: (56/14)² = 16 tokens per image, the CLS one dropped by "default". */
class LlavaProcessorTest {

    @TempDir
    Path tmp;

    @Test
    void bothCasesMatchTransformers() {
        double err = GoldenCases.check("llava", 0);
        System.out.printf("llava c0 input_ids identical, pixel_values max abs err %.3e%n", err);
        assertTrue(err < 1e-5, "pixel err " + err);
        assertEquals(0.0, GoldenCases.check("llava", 1));
    }

    @Test
    void tokenCountFollowsPatchSizeAndStrategy() throws IOException {
        try (LlavaProcessor p = (LlavaProcessor) VlmProcessor.load(HfFixtures.dir("llava"))) {
            assertEquals(16, p.tokensPerImage(56, 56));
            assertEquals(576, p.tokensPerImage(336, 336));            // llava-1.5-7b: 24² patches
            assertEquals("<image>", p.imagePlaceholder());
            assertEquals(3, p.imageTokenId());
        }
        Path dir = HfFixtures.copy("llava", tmp);
        Path pc = dir.resolve("processor_config.json");
        Files.writeString(pc, Files.readString(pc).replace("\"vision_feature_select_strategy\": \"default\"",
                "\"vision_feature_select_strategy\": \"full\""));
        try (LlavaProcessor p = (LlavaProcessor) VlmProcessor.load(dir)) {
            assertEquals(17, p.tokensPerImage(56, 56));               // CLS kept
        }
    }
}
