package org.mha2mla.evaluation.synthetic;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import javax.imageio.ImageIO;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticShapesDataTest {

    static final SyntheticShapesData.Sizes SIZES = new SyntheticShapesData.Sizes(112, 40, 10, 8);

    @Test
    void splitsAreLlavaInstructJsonWithImagesThatShowWhatTheMetadataSays(@TempDir Path dir) throws Exception {
        SyntheticShapesData.Splits s = SyntheticShapesData.write(dir, SIZES, 7);
        ObjectMapper om = new ObjectMapper();
        JsonNode train = om.readTree(s.train().toFile());
        JsonNode test = om.readTree(s.test().toFile());
        assertEquals(40, train.size());
        assertEquals(10, om.readTree(s.calibration().toFile()).size());
        assertEquals(5 * 8, test.size());
        Set<String> images = new HashSet<>();
        for (JsonNode split : new JsonNode[] {train, test}) {
            for (JsonNode r : split) {
                assertTrue(images.add(r.get("image").asText()), "image reused: " + r.get("image"));
                JsonNode conv = r.get("conversations");
                assertTrue(conv.size() >= 2 && conv.size() % 2 == 0);
                for (int i = 0; i < conv.size(); i++) {
                    assertEquals(i % 2 == 0 ? "human" : "gpt", conv.get(i).get("from").asText());
                    // The image mark opens the first human turn only, as in LLaVA-instruct.
                    assertEquals(i == 0, conv.get(i).get("value").asText().startsWith("<image>\n"), conv.get(i).toString());
                }
                BufferedImage img = ImageIO.read(dir.resolve(r.get("image").asText()).toFile());
                assertEquals(112, img.getWidth());
                for (JsonNode o : r.get("objects")) {
                    Scene.Colour c = Scene.Colour.valueOf(o.get("color").asText().toUpperCase());
                    assertEquals(c.rgb(), img.getRGB(o.get("cx").asInt(), o.get("cy").asInt()) & 0xffffff, r.get("id") + " " + o);
                }
            }
        }
        // Held out: every type equally often, existence exactly half yes.
        Map<String, Integer> types = new HashMap<>();
        int yes = 0;
        for (JsonNode r : test) {
            types.merge(r.get("question_type").asText(), 1, Integer::sum);
            if (r.get("question_type").asText().equals("exist") && r.get("conversations").get(1).get("value").asText().equals("yes")) yes++;
        }
        assertEquals(Map.of("color", 8, "shape", 8, "count", 8, "exist", 8, "position", 8), types);
        assertEquals(4, yes);
    }

    @Test
    void theSameSeedWritesTheSameFiles(@TempDir Path a, @TempDir Path b) throws Exception {
        SyntheticShapesData.write(a, SIZES, 3);
        SyntheticShapesData.write(b, SIZES, 3);
        for (String f : new String[] {SyntheticShapesData.TRAIN, SyntheticShapesData.CALIBRATION, SyntheticShapesData.TEST,
                "images/train_5.png", "images/test_39.png"}) {
            assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f)), f);
        }
    }
}
