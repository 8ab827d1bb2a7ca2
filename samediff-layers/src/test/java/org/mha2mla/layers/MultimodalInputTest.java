package org.mha2mla.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.mha2mla.importers.image.Resampler;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.processor.ProcessedPrompt;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.llava.LlavaNextModel;

/**
 * The whole Java pipeline on each fixture's image case: case.json prompt + image0.png through the importers
 * processor, then the model. The image token count must be what the model fills, and the logits must match
 * transformers' (which were computed from transformers' own processor output).
 */
class MultimodalInputTest {

    private static ProcessedPrompt processC0(String name) throws IOException {
        return processC0(name, Resampler.Backend.TORCHVISION);
    }

    private static ProcessedPrompt processC0(String name, Resampler.Backend backend) throws IOException {
        Path dir = Fixtures.dir(name);
        JsonNode c0 = new ObjectMapper().readTree(Files.readString(dir.resolve("case.json"))).get("cases").get(0);
        try (VlmProcessor p = VlmProcessor.load(dir, backend)) {
            return p.process(c0.get("prompt").asText(), List.of(RgbImage.load(dir.resolve(c0.get("image").asText()))));
        }
    }

    @Test
    void adaptsAProcessedPrompt() throws IOException {
        ProcessedPrompt p = processC0("qwen2_5_vl");
        MultimodalInput in = MultimodalInput.of(p);
        assertArrayEquals(p.inputIds(), in.inputIds());
        assertEquals(p.pixelValues(), in.pixelValues());
        assertArrayEquals(p.imageGridThw(), in.imageGridThw());
        assertTrue(in.hasImage());
    }

    @Test
    void javaProcessedInputsGiveTransformersLogits() throws IOException {
        for (String name : new String[]{"llava", "llava_next", "qwen2_5_vl"}) {
            MultimodalInput in = MultimodalInput.of(processC0(name));
            try (VisionLanguageModel model = VlmLoader.load(Fixtures.dir(name)); SafeTensorsFile g = Fixtures.golden(name)) {
                assertArrayEquals(g.readLongs("c0.input_ids"), in.inputIds(), name);
                if (model instanceof LlavaNextModel next) {
                    long imageTokens = java.util.Arrays.stream(in.inputIds()).filter(t -> t == model.config().imageTokenId()).count();
                    assertEquals(imageTokens, next.imageFeatures(in.pixelValues(), in.imageSizes()).size(0), "anyres token count");
                }
                double err = Fixtures.maxAbsDiff(model.logits(in), g.readFloat32("c0.logits"));
                System.out.printf("%s c0 logits from Java-processed input: max abs diff vs golden %.3e%n", name, err);
                assertTrue(err <= 1e-4, name + " logits max abs diff " + err);
                // PIL's resize differs from torchvision's by one uint8 level on a few pixels; the logits move a little.
                double pil = Fixtures.maxAbsDiff(model.logits(MultimodalInput.of(processC0(name, Resampler.Backend.PIL))),
                        g.readFloat32("c0.logits"));
                System.out.printf("%s c0 logits from PIL-backend pixels: max abs diff vs golden %.3e%n", name, pil);
                assertTrue(pil <= 1e-2, name + " PIL-backend logits max abs diff " + pil);
            }
        }
    }
}
