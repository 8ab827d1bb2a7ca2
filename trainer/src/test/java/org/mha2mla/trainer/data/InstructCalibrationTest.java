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
import org.mha2mla.fixtures.Fixtures;

class InstructCalibrationTest {

    static Path fixture() throws Exception {
        return Fixtures.hf("llava");
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
    void recordsAreDrawnAfterASeededShuffleAndBecomeProcessedPrompts(@TempDir Path tmp) throws Exception {
        Path json = writeCalibration(tmp);
        long[] golden;
        try (SafeTensorsFile g = SafeTensorsFile.open(fixture().resolve("golden.safetensors"));
             LlavaFixtureProcessor p = new LlavaFixtureProcessor(fixture())) {
            golden = g.readLongs("c0.input_ids");
            // the order is Collections.shuffle(0..n−1, new Random(seed)); seed 42 (the default) puts record b first
            assertArrayEquals(new int[] {1, 0, 2}, InstructCalibration.order(3, 42));
            int[] other = InstructCalibration.order(3, 7);
            List<MultimodalInput> all = new InstructCalibration(json, null, p).load(10);
            assertEquals(3, all.size());
            List<MultimodalInput> two = new InstructCalibration(json, null, p, 7).load(2);
            assertEquals(2, two.size());
            for (int i = 0; i < 2; i++) {
                MultimodalInput expected = all.get(indexOf(InstructCalibration.order(3, 42), other[i]));
                assertArrayEquals(expected.inputIds(), two.get(i).inputIds(), "seed 7, sample " + i);
            }
            // record a (second at seed 42): the golden prompt (transformers' processor output) followed by the reply "red</s>"
            MultimodalInput a = all.get(1);
            assertArrayEquals(golden, Arrays.copyOf(a.inputIds(), golden.length));
            assertTrue(a.hasImage());
            assertEquals(LlavaFixtureProcessor.IMAGE_TOKENS, Arrays.stream(a.inputIds()).filter(t -> t == 3).count());
            assertFalse(all.get(0).hasImage());
            assertArrayEquals(a.inputIds(), all.get(1).inputIds(), "a sample read twice is encoded alike");
            assertThrows(IllegalArgumentException.class, () -> new InstructCalibration(json, null, p).load(0));
        }
    }

    private static int indexOf(int[] order, int record) {
        for (int i = 0; i < order.length; i++) if (order[i] == record) return i;
        throw new AssertionError("record " + record + " missing from " + Arrays.toString(order));
    }
}
