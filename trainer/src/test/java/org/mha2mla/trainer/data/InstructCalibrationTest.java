package org.mha2mla.trainer.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.MultimodalInput;

class InstructCalibrationTest {

    static Path fixture() throws Exception {
        return Path.of(InstructCalibrationTest.class.getResource("/hf/llava/config.json").toURI()).getParent();
    }

    /** Three LLaVA-instruct records: two with the fixture image, one text only. */
    static Path writeCalibration(Path dir) throws Exception {
        Files.copy(fixture().resolve("image0.png"), dir.resolve("image0.png"));
        Files.writeString(dir.resolve("calib.json"), """
                [{"id": "a", "image": "image0.png", "conversations": [
                   {"from": "human", "value": "<image>\\nWhat is the color of the square?"}, {"from": "gpt", "value": "red"}]},
                 {"id": "b", "conversations": [{"from": "human", "value": "Say hello."}, {"from": "gpt", "value": "hello"}]},
                 {"id": "c", "image": "image0.png", "conversations": [
                   {"from": "human", "value": "<image>\\nDescribe it."}, {"from": "gpt", "value": "a square"}]}]
                """);
        return dir.resolve("calib.json");
    }

    @Test
    void recordsBecomeProcessedPromptsInFileOrder(@TempDir Path tmp) throws Exception {
        Path json = writeCalibration(tmp);
        long[] golden;
        try (SafeTensorsFile g = SafeTensorsFile.open(fixture().resolve("golden.safetensors"));
             LlavaFixtureProcessor p = new LlavaFixtureProcessor(fixture())) {
            golden = g.readLongs("c0.input_ids");
            List<MultimodalInput> two = new InstructCalibration(json, null, p).load(2);
            assertEquals(2, two.size());
            // record a: the golden prompt (transformers' processor output) followed by the reply "red</s>"
            assertArrayEquals(golden, Arrays.copyOf(two.get(0).inputIds(), golden.length));
            assertTrue(two.get(0).hasImage());
            assertEquals(LlavaFixtureProcessor.IMAGE_TOKENS, Arrays.stream(two.get(0).inputIds()).filter(t -> t == 3).count());
            assertFalse(two.get(1).hasImage());
            assertEquals(3, new InstructCalibration(json, tmp, p).load(10).size());
            assertThrows(IllegalArgumentException.class, () -> new InstructCalibration(json, null, p).load(0));
        }
    }

    /** A machine's share of the samples: records [from, to) are the same prompts as in the whole set. */
    @Test
    void aShareIsTheSameRecordsAsInTheWholeSet(@TempDir Path tmp) throws Exception {
        Path json = writeCalibration(tmp);
        try (LlavaFixtureProcessor p = new LlavaFixtureProcessor(fixture())) {
            InstructCalibration calibration = new InstructCalibration(json, null, p);
            assertEquals(3, calibration.count());
            List<MultimodalInput> all = calibration.load(3);
            List<MultimodalInput> share = calibration.load(1, 5);
            assertEquals(2, share.size());
            for (int i = 0; i < 2; i++) {
                assertArrayEquals(all.get(i + 1).inputIds(), share.get(i).inputIds());
                assertEquals(all.get(i + 1).hasImage(), share.get(i).hasImage());
            }
            assertTrue(calibration.load(3, 4).isEmpty());
        }
    }
}
