package org.mha2mla.importers.processor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import org.mha2mla.importers.HfFixtures;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.safetensors.SafeTensorsFile;

/** Runs a fixture's case c0/c1 (case.json prompt and image) through its processor and compares with golden. */
final class GoldenCases {
    private GoldenCases() {
    }

    /** Asserts ids (and image_sizes / image_grid_thw) identical; returns the max abs pixel error (0 for text-only). */
    static double check(String name, int c) {
        JsonNode testCase = HfFixtures.testCase(name, c);
        List<RgbImage> images = testCase.get("image").isNull() ? List.of()
                : List.of(RgbImage.load(HfFixtures.dir(name).resolve(testCase.get("image").asText())));
        try (VlmProcessor p = VlmProcessor.load(HfFixtures.dir(name)); SafeTensorsFile g = HfFixtures.golden(name)) {
            ProcessedPrompt out = p.process(testCase.get("prompt").asText(), images);
            String k = "c" + c + ".";
            assertArrayEquals(g.readLongs(k + "input_ids"), out.inputIds(), name + " " + k + "input_ids");
            if (images.isEmpty()) {
                assertNull(out.pixelValues());
                return 0;
            }
            if (g.contains(k + "image_sizes")) {
                long[] s = g.readLongs(k + "image_sizes");
                assertArrayEquals(new int[][]{{(int) s[0], (int) s[1]}}, out.imageSizes());
            } else {
                assertNull(out.imageSizes());
            }
            if (g.contains(k + "image_grid_thw")) {
                long[] s = g.readLongs(k + "image_grid_thw");
                assertArrayEquals(new int[][]{{(int) s[0], (int) s[1], (int) s[2]}}, out.imageGridThw());
            } else {
                assertNull(out.imageGridThw());
            }
            var gold = g.readFloat32(k + "pixel_values");
            assertEquals(gold.length(), out.pixelValues().length(), name + " pixel_values size");
            return HfFixtures.maxAbsDiff(out.pixelValues(), gold.reshape(out.pixelValues().shape()));
        }
    }
}
