package org.mha2mla.evaluation.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PredictionLogTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static ObjectNode config(String policy) {
        return JSON.createObjectNode().put("task", "pope").put("cache_policy", policy);
    }

    private static ObjectNode entry(int id, String prediction) {
        return JSON.createObjectNode().put("doc_id", id).put("prediction", prediction);
    }

    @Test
    void resumesWithTheSameConfigAndRefusesAnother(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("predictions/pope.jsonl");
        try (PredictionLog log = PredictionLog.open(file, config("full"))) {
            log.append(entry(0, "yes"));
            log.append(entry(1, "no"));
            assertThrows(IllegalStateException.class, () -> log.append(entry(1, "again")));
        }
        assertEquals(3, Files.readAllLines(file).size());
        try (PredictionLog log = PredictionLog.open(file, config("full"))) {
            assertEquals(2, log.size());
            assertEquals("no", log.get(1).get("prediction").asText());
            assertFalse(log.has(2));
            log.append(entry(2, "yes"));
        }
        try (PredictionLog log = PredictionLog.open(file, config("full"))) {
            assertEquals(3, log.size());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PredictionLog.open(file, config("int4-g64-r128")));
        assertTrue(e.getMessage().contains("other settings") && e.getMessage().contains("pope.jsonl"), e.getMessage());
    }

    @Test
    void aLineCutShortByACrashIsDroppedAndRegenerated(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("pope.jsonl");
        try (PredictionLog log = PredictionLog.open(file, config("full"))) {
            log.append(entry(0, "yes"));
        }
        Files.writeString(file, "{\"doc_id\": 1, \"predic", java.nio.file.StandardOpenOption.APPEND);
        try (PredictionLog log = PredictionLog.open(file, config("full"))) {
            assertEquals(1, log.size());
            log.append(entry(1, "no"));
        }
        assertEquals(3, Files.readAllLines(file).size());
        try (PredictionLog log = PredictionLog.open(file, config("full"))) {
            assertEquals("no", log.get(1).get("prediction").asText());
        }
        // a broken line that is not the last is an error naming the line
        Files.writeString(file, Files.readString(file).replace("\"doc_id\":0", "\"doc_id\":"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PredictionLog.open(file, config("full")));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }
}
