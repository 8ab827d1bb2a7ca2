package org.mha2mla.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mha2mla score} on every case of the lmms-eval goldens (the test-fixtures module's benchmarks/):
 * lmms_eval_scoring.json (task utilities called directly: {@code --no-harness-strip}) and
 * lmms_eval_harness_cases.json (the harness steps: the default).
 */
class ScoreCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode resource(String name) throws Exception {
        try (InputStream in = ScoreCommandTest.class.getResourceAsStream("/benchmarks/" + name)) {
            return JSON.readTree(in);
        }
    }

    /** The cases file: the fixture's {doc, prediction} pairs only. */
    private static Path casesFile(Path dir, String task, JsonNode cases) throws Exception {
        ArrayNode out = JSON.createArrayNode();
        for (JsonNode c : cases) out.addObject().<com.fasterxml.jackson.databind.node.ObjectNode>set("doc", c.get("doc"))
                .put("prediction", c.get("prediction").asText());
        Path f = dir.resolve(task + ".json");
        Files.writeString(f, JSON.writeValueAsString(out));
        return f;
    }

    /**
     * Structural equality where numbers compare by value (Python's 0 equals 0.0). Objects must have exactly the
     * expected keys, except an aggregate, which may report more (seedbench's seed_all next to seed_image).
     */
    static void assertJsonEquals(JsonNode expected, JsonNode actual, String path) {
        if (expected.isNumber()) {
            assertTrue(actual != null && actual.isNumber(), path + ": expected " + expected + ", got " + actual);
            assertEquals(expected.doubleValue(), actual.doubleValue(), 1e-12, path);
        } else if (expected.isObject()) {
            assertTrue(actual != null && actual.isObject(), path + ": expected object, got " + actual);
            if (!path.endsWith("aggregate")) assertEquals(expected.size(), actual.size(), path + " keys " + actual);
            for (Iterator<Map.Entry<String, JsonNode>> it = expected.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                assertJsonEquals(e.getValue(), actual.get(e.getKey()), path + "." + e.getKey());
            }
        } else if (expected.isArray()) {
            assertTrue(actual != null && actual.isArray() && actual.size() == expected.size(), path + ": " + actual);
            for (int i = 0; i < expected.size(); i++) assertJsonEquals(expected.get(i), actual.get(i), path + "[" + i + "]");
        } else {
            assertEquals(expected, actual, path);
        }
    }

    private static void check(JsonNode tasks, List<String> names, boolean noStrip, Path dir) throws Exception {
        for (String task : names) {
            JsonNode fixture = tasks.get(task);
            Path cases = casesFile(dir, task, fixture.get("cases"));
            CliCapture.Result r = noStrip ? CliCapture.run("score", "--task", task, "--cases", cases.toString(), "--no-harness-strip")
                    : CliCapture.run("score", "--task", task, "--cases", cases.toString());
            assertEquals(0, r.rc(), task + ": " + r.err());
            JsonNode out = JSON.readTree(r.out());
            assertEquals(task, out.get("task").asText());
            assertEquals(3, out.size(), "only task, results, aggregate: " + out.fieldNames());
            JsonNode results = out.get("results");
            assertEquals(fixture.get("cases").size(), results.size(), task);
            for (int i = 0; i < results.size(); i++) {
                assertJsonEquals(fixture.get("cases").get(i).get("result"), results.get(i), task + " case " + i);
            }
            assertJsonEquals(fixture.get("aggregate"), out.get("aggregate"), task + " aggregate");
        }
    }

    @Test
    void reproducesEveryCaseOfLmmsEvalScoring(@TempDir Path dir) throws Exception {
        check(resource("lmms_eval_scoring.json").get("tasks"),
                List.of("ai2d", "pope", "chartqa", "docvqa_val", "gqa", "seedbench", "realworldqa"), true, dir);
    }

    @Test
    void reproducesTheHarnessCasesByDefault(@TempDir Path dir) throws Exception {
        // mmbench_en_dev: per-example results only; the fixture has no aggregate (lmms-eval scores it with a GPT judge)
        JsonNode tasks = resource("lmms_eval_harness_cases.json").get("tasks");
        for (String task : List.of("ai2d", "pope", "chartqa", "docvqa_val", "gqa", "seedbench", "realworldqa")) {
            check(tasks, List.of(task), false, dir);
        }
        JsonNode fixture = tasks.get("mmbench_en_dev");
        CliCapture.Result r = CliCapture.run("score", "--task", "mmbench_en_dev", "--cases",
                casesFile(dir, "mmbench_en_dev", fixture.get("cases")).toString());
        assertEquals(0, r.rc(), r.err());
        JsonNode results = JSON.readTree(r.out()).get("results");
        for (int i = 0; i < results.size(); i++) {
            assertJsonEquals(fixture.get("cases").get(i).get("result"), results.get(i), "mmbench_en_dev case " + i);
        }
    }

    @Test
    void badInputIsOneLine(@TempDir Path dir) throws Exception {
        Path broken = dir.resolve("broken.json");
        Files.writeString(broken, "[{\"doc\": {\"question\": ");
        CliCapture.Result r = CliCapture.run("score", "--task", "pope", "--cases", broken.toString());
        assertEquals(1, r.rc());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("mha2mla: ") && r.err().contains("broken.json"), r.err());
        Path ok = dir.resolve("ok.json");
        Files.writeString(ok, "[]");
        r = CliCapture.run("score", "--task", "nosuchtask", "--cases", ok.toString());
        assertEquals(1, r.rc());
        assertTrue(r.err().contains("unknown task 'nosuchtask'"), r.err());
    }
}
