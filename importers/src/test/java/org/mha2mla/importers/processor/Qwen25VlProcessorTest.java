package org.mha2mla.importers.processor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.HfFixtures;
import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.image.RgbImage;

/** Qwen25VlProcessor on the qwen2_5_vl fixture: grid 1×8×10 patches → 80 / 2² = 20 <|image_pad|> tokens. */
class Qwen25VlProcessorTest {

    @TempDir
    Path tmp;

    @Test
    void bothCasesMatchTransformers() {
        double err = GoldenCases.check("qwen2_5_vl", 0);
        System.out.printf("qwen2_5_vl c0 input_ids identical, pixel_values max abs err %.3e%n", err);
        assertTrue(err < 1e-5, "pixel err " + err);
        assertEquals(0.0, GoldenCases.check("qwen2_5_vl", 1));
    }

    @Test
    void expandsTheImagePadBetweenVisionMarkers() {
        Path dir = HfFixtures.dir("qwen2_5_vl");
        try (VlmProcessor p = VlmProcessor.load(dir)) {
            assertEquals("<|vision_start|><|image_pad|><|vision_end|>", p.imagePlaceholder());
            RgbImage img = RgbImage.load(dir.resolve("image0.png"));
            ProcessedImages two = p.images(List.of(img, img));
            assertArrayEquals(new int[]{20, 20}, two.tokensPerImage());
            assertEquals(160, two.pixelValues().size(0));
            long[] ids = p.tokenize(p.userPrompt("a and b", 2), two);
            int pads = 0;
            for (long id : ids) if (id == 6) pads++;
            assertEquals(40, pads);
        }
    }

    @Test
    void imageProcessorMustAgreeWithTheVisionTower() throws IOException {
        Path dir = HfFixtures.copy("qwen2_5_vl", tmp);
        Path pc = dir.resolve("preprocessor_config.json");
        Files.writeString(pc, Files.readString(pc).replace("\"patch_size\": 14", "\"patch_size\": 16"));
        ConfigException e = assertThrows(ConfigException.class, () -> VlmProcessor.load(dir));
        assertTrue(e.getMessage().contains("patch_size") && e.getMessage().contains("16"), e.getMessage());
    }
}
