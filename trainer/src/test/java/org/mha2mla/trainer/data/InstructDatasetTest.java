package org.mha2mla.trainer.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.trainer.LossMask;

class InstructDatasetTest {

    @TempDir
    Path tmp;

    static Path write(Path dir, int n) throws IOException {
        StringBuilder sb = new StringBuilder("[\n");
        for (int i = 0; i < n; i++) {
            if (i > 0) sb.append(",\n");
            String image = i == 1 ? "" : i == 2 ? "\"image\": [\"a.png\", \"b.png\"], " : "\"image\": \"img/" + i + ".png\", ";
            sb.append("{\"id\": \"s").append(i).append("\", ").append(image).append("\"conversations\": [")
                    .append("{\"from\": \"human\", \"value\": \"<image>\\nWhat is shown in ").append(i).append("?\"}, ")
                    .append("{\"from\": \"gpt\", \"value\": \"answer ").append(i).append("\"}]}");
        }
        Path f = dir.resolve("data.json");
        Files.writeString(f, sb.append("\n]\n").toString());
        return f;
    }

    @Test
    void parsesLlavaInstructRecords() throws IOException {
        InstructDataset d = InstructDataset.load(write(tmp, 5), null, 0);
        assertEquals(5, d.size());
        assertEquals(tmp.toAbsolutePath(), d.imageRoot());
        InstructSample s0 = d.samples().get(0);
        assertEquals("s0", s0.id());
        assertEquals(List.of("img/0.png"), s0.images());
        assertEquals(List.of(), d.samples().get(1).images());
        assertEquals(List.of("a.png", "b.png"), d.samples().get(2).images());
        List<LossMask.Message> m = s0.messages();
        assertEquals(new LossMask.Message(LossMask.USER, "<image>\nWhat is shown in 0?"), m.get(0));
        assertEquals(new LossMask.Message(LossMask.ASSISTANT, "answer 0"), m.get(1));
    }

    @Test
    void everyEpochVisitsEverySampleOnceInASeededOrder() throws IOException {
        Path f = write(tmp, 50);
        InstructDataset d = InstructDataset.load(f, null, 1234);
        int[] e0 = d.order(0);
        int[] e1 = d.order(1);
        assertEquals(50, new HashSet<>(Arrays.stream(e0).boxed().toList()).size());
        assertFalse(Arrays.equals(e0, e1));
        assertArrayEquals(e0, InstructDataset.load(f, null, 1234).order(0));
        assertFalse(Arrays.equals(e0, InstructDataset.load(f, null, 99).order(0)));
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < 100; i++) seen.add(d.next().id());
        assertEquals(new DataPosition(1, 50), d.position());
        Set<String> firstEpoch = new HashSet<>(seen.subList(0, 50));
        assertEquals(50, firstEpoch.size());
        assertEquals(firstEpoch, new HashSet<>(seen.subList(50, 100)));
        assertEquals("s" + e0[0], seen.get(0));
        assertEquals("s" + e1[0], seen.get(50));
    }

    @Test
    void seekingToASavedPositionReplaysTheSameSamples() throws IOException {
        Path f = write(tmp, 7);
        InstructDataset a = InstructDataset.load(f, null, 5);
        for (int i = 0; i < 10; i++) a.next();
        DataPosition saved = a.position();
        assertEquals(new DataPosition(1, 3), saved);
        List<String> rest = new ArrayList<>();
        for (int i = 0; i < 12; i++) rest.add(a.next().id());
        InstructDataset b = InstructDataset.load(f, null, 5);
        b.seek(saved);
        List<String> replay = new ArrayList<>();
        for (int i = 0; i < 12; i++) replay.add(b.next().id());
        assertEquals(rest, replay);
    }

    @Test
    void malformedFilesNameTheFileAndSample() throws IOException {
        Path f = tmp.resolve("bad.json");
        Files.writeString(f, "[{\"id\": \"x\", \"conversations\": [{\"from\": \"human\"}]}]");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InstructDataset.load(f, null, 0));
        assertTrue(e.getMessage().contains("bad.json") && e.getMessage().contains("'x'"), e.getMessage());
        Files.writeString(f, "{\"id\": 1}");
        assertThrows(IllegalArgumentException.class, () -> InstructDataset.load(f, null, 0));
        Files.writeString(f, "[{\"id\": \"y\", \"conversations\": [{\"from\": \"robot\", \"value\": \"v\"}]}]");
        assertThrows(IllegalArgumentException.class, () -> InstructDataset.load(f, null, 0).samples().get(0).messages());
    }

    private String refusal(String json) throws IOException {
        Path f = tmp.resolve("d.json");
        Files.writeString(f, json);
        return assertThrows(IllegalArgumentException.class, () -> InstructDataset.load(f, null, 0)).getMessage();
    }

    /** An answer that is a JSON object was read as "" and trained on; values must be strings, named by sample and turn. */
    @Test
    void nonStringValuesAreRefusedNotReadAsEmpty() throws IOException {
        String f = tmp.resolve("d.json").toString();
        assertEquals(f + ": sample 0 ('q'): turn 1: 'from' and 'value' must be strings, got \"gpt\" and {\"text\":\"red\"}",
                refusal("[{\"id\": \"q\", \"conversations\": [{\"from\": \"human\", \"value\": \"colour?\"}, "
                        + "{\"from\": \"gpt\", \"value\": {\"text\": \"red\"}}]}]"));
        assertEquals(f + ": sample 0 ('q'): turn 0: 'from' and 'value' must be strings, got \"human\" and 42",
                refusal("[{\"id\": \"q\", \"conversations\": [{\"from\": \"human\", \"value\": 42}]}]"));
        assertEquals(f + ": sample 0 ('q'): 'image' must be a file path or a list of paths, got {\"path\":\"a.png\"}",
                refusal("[{\"id\": \"q\", \"image\": {\"path\": \"a.png\"}, \"conversations\": [{\"from\": \"human\", \"value\": \"x\"}]}]"));
        assertEquals(f + ": record 1 is VALUE_NUMBER_INT, not an object {\"id\", \"image\", \"conversations\"}",
                refusal("[{\"id\": \"q\", \"conversations\": [{\"from\": \"human\", \"value\": \"x\"}]}, 5]"));
    }

    /** Turns out of order were reported as an image-placeholder mismatch; now as what they are. */
    @Test
    void conversationsMustAlternateHumanAndGpt() throws IOException {
        String f = tmp.resolve("d.json").toString();
        String expected = "conversations alternate human and gpt turns, starting with human (after an optional system turn)";
        assertEquals(f + ": sample 0 ('r'): turn 0 is from 'gpt' where a human turn belongs: " + expected,
                refusal("[{\"id\": \"r\", \"image\": \"a.png\", \"conversations\": [{\"from\": \"gpt\", \"value\": \"red\"}, "
                        + "{\"from\": \"human\", \"value\": \"<image>\\ncolour?\"}]}]"));
        assertEquals(f + ": sample 0 ('r'): turn 2 is from 'human' where a gpt turn belongs: " + expected,
                refusal("[{\"id\": \"r\", \"conversations\": [{\"from\": \"system\", \"value\": \"be brief\"}, "
                        + "{\"from\": \"human\", \"value\": \"a\"}, {\"from\": \"human\", \"value\": \"b\"}]}]"));
        // An image mark outside a human turn was dropped by the template and reported as a placeholder count mismatch.
        assertEquals(f + ": sample 0 ('m'): turn 1 from 'gpt' holds an <image> mark; images go in human turns",
                refusal("[{\"id\": \"m\", \"image\": \"a.png\", \"conversations\": [{\"from\": \"human\", \"value\": \"q?\"}, "
                        + "{\"from\": \"gpt\", \"value\": \"<image> red\"}]}]"));
        Path ok = tmp.resolve("ok.json");
        Files.writeString(ok, "[{\"id\": \"s\", \"conversations\": [{\"from\": \"system\", \"value\": \"be brief\"}, "
                + "{\"from\": \"human\", \"value\": \"a\"}, {\"from\": \"gpt\", \"value\": \"b\"}, {\"from\": \"human\", \"value\": \"c\"}]}]");
        assertEquals(4, InstructDataset.load(ok, null, 0).samples().get(0).conversations().size());
    }
}
