package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The golden files of the test-fixtures module (benchmarks/) and the checks every benchmark test runs on them.
 * lmms_eval_scoring.json: lmms-eval's task utilities called directly (no harness strip).
 * lmms_eval_harness_cases.json: the same utilities through the harness steps (filter, strip, scorer).
 */
public final class Fixtures {
    public static final ObjectMapper JSON = new ObjectMapper();
    public static final double AGGREGATE_TOL = 1e-9;

    private Fixtures() {
    }

    public static JsonNode resource(String name) {
        try (InputStream in = Fixtures.class.getResourceAsStream("/benchmarks/" + name)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource /benchmarks/" + name);
            }
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** lmms_eval_scoring.json's entry for the task. */
    public static JsonNode taskUtils(String task) {
        return resource("lmms_eval_scoring.json").get("tasks").get(task);
    }

    /** lmms_eval_harness_cases.json's entry for the task. */
    public static JsonNode harness(String task) {
        return resource("lmms_eval_harness_cases.json").get("tasks").get(task);
    }

    /**
     * Every case of lmms_eval_scoring.json: filter output, target, per-example result of the scorer on the
     * filtered text, the aggregate, and the prompts of the distinct docs in order of first appearance.
     */
    public static void checkTaskUtilsFixture(Benchmark b) {
        JsonNode task = taskUtils(b.name());
        List<ObjectNode> results = new ArrayList<>();
        JsonNode cases = task.get("cases");
        for (int i = 0; i < cases.size(); i++) {
            JsonNode c = cases.get(i);
            Doc doc = Doc.of(c.get("doc"));
            String prediction = c.get("prediction").asText();
            String filtered = b.filter(doc, prediction);
            if (c.has("filtered")) {
                assertEquals(c.get("filtered").asText(), filtered, b.name() + " case " + i + " filtered");
            }
            if (c.has("target")) {
                assertEquals(c.get("target"), b.target(doc), b.name() + " case " + i + " target");
            }
            ObjectNode result = b.processResults(doc, filtered);
            assertJsonEquals(c.get("result"), result, 1e-12, b.name() + " case " + i + " result");
            results.add(result);
        }
        assertAggregate(task.get("aggregate"), b.aggregate(results), b.name());
        List<JsonNode> docs = distinctDocs(cases);
        JsonNode prompts = task.get("prompts");
        assertTrue(prompts.size() <= docs.size());
        for (int i = 0; i < prompts.size(); i++) {
            for (ModelFamily f : ModelFamily.values()) {
                assertEquals(prompts.get(i).asText(), b.prompt(Doc.of(docs.get(i)), f), b.name() + " prompt " + i + " " + f);
            }
        }
    }

    /** Every case of lmms_eval_harness_cases.json through {@link Benchmark#result} (filter, strip, scorer). */
    public static void checkHarnessFixture(Benchmark b) {
        JsonNode task = harness(b.name());
        List<ObjectNode> results = new ArrayList<>();
        JsonNode cases = task.get("cases");
        for (int i = 0; i < cases.size(); i++) {
            JsonNode c = cases.get(i);
            Doc doc = Doc.of(c.get("doc"));
            String prediction = c.get("prediction").asText();
            assertEquals(c.get("filtered").asText(), b.filter(doc, prediction), b.name() + " harness case " + i + " filtered");
            ObjectNode result = b.result(doc, prediction);
            assertJsonEquals(c.get("result"), result, 1e-12, b.name() + " harness case " + i + " (" + prediction + ")");
            results.add(result);
        }
        if (!b.name().equals("mmbench_en_dev")) {
            assertAggregate(task.get("aggregate"), b.aggregate(results), b.name() + " harness");
        }
        for (JsonNode p : task.get("prompts")) {
            for (ModelFamily f : ModelFamily.values()) {
                assertEquals(p.get("prompt").asText(), b.prompt(Doc.of(p.get("doc")), f), b.name() + " prompt " + f);
            }
        }
    }

    /** Every aggregate key of the fixture, within 1e-9; the benchmark may report more (e.g. seed_all). */
    public static void assertAggregate(JsonNode expected, JsonNode actual, String what) {
        for (Iterator<Map.Entry<String, JsonNode>> it = expected.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode a = actual.get(e.getKey());
            if (a == null) {
                fail(what + ": aggregate lacks " + e.getKey() + " (has " + actual + ")");
            }
            assertEquals(e.getValue().doubleValue(), a.doubleValue(), AGGREGATE_TOL, what + " aggregate " + e.getKey());
        }
    }

    /** Structural JSON equality; numbers compare by value (Python's int 0 equals 0.0) within tol. */
    public static void assertJsonEquals(JsonNode expected, JsonNode actual, double tol, String path) {
        if (expected.isNumber()) {
            assertTrue(actual != null && actual.isNumber(), path + ": expected number " + expected + ", got " + actual);
            assertEquals(expected.doubleValue(), actual.doubleValue(), tol, path);
            return;
        }
        if (expected.isObject()) {
            assertTrue(actual != null && actual.isObject(), path + ": expected object, got " + actual);
            List<String> expectedNames = new ArrayList<>();
            expected.fieldNames().forEachRemaining(expectedNames::add);
            List<String> actualNames = new ArrayList<>();
            actual.fieldNames().forEachRemaining(actualNames::add);
            assertEquals(expectedNames.stream().sorted().toList(), actualNames.stream().sorted().toList(), path + " keys");
            for (String k : expectedNames) {
                assertJsonEquals(expected.get(k), actual.get(k), tol, path + "." + k);
            }
            return;
        }
        if (expected.isArray()) {
            assertTrue(actual != null && actual.isArray() && actual.size() == expected.size(), path + ": expected " + expected + ", got " + actual);
            for (int i = 0; i < expected.size(); i++) {
                assertJsonEquals(expected.get(i), actual.get(i), tol, path + "[" + i + "]");
            }
            return;
        }
        assertEquals(expected, actual, path);
    }

    /**
     * Loads the split written from the fixture's cases (row i = case i), checks every fixture field and the
     * images came back, then scores the fixture's predictions against the loaded docs through
     * {@link org.mha2mla.evaluation.scoring.Scoring} (task-utility mode, as the fixture was made) and
     * compares results, aggregate and prompts. Returns the loaded docs.
     */
    public static List<Doc> checkLoadAndScore(Benchmark b, java.nio.file.Path root, List<List<byte[]>> images) throws IOException {
        JsonNode task = taskUtils(b.name());
        JsonNode cases = task.get("cases");
        List<Doc> loaded = b.load(root);
        assertEquals(cases.size(), loaded.size(), b.name() + " rows loaded");
        List<String> predictions = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            JsonNode doc = cases.get(i).get("doc");
            for (Iterator<Map.Entry<String, JsonNode>> it = doc.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                assertJsonEquals(e.getValue(), loaded.get(i).fields().get(e.getKey()), 0.0, b.name() + " row " + i + " field " + e.getKey());
            }
            List<byte[]> want = images.get(i);
            assertEquals(want.size(), loaded.get(i).images().size(), b.name() + " row " + i + " image count");
            for (int k = 0; k < want.size(); k++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(want.get(k), loaded.get(i).images().get(k), b.name() + " row " + i + " image " + k);
            }
            predictions.add(cases.get(i).get("prediction").asText());
        }
        ObjectNode scored = org.mha2mla.evaluation.scoring.Scoring.score(b, loaded, predictions, false);
        for (int i = 0; i < cases.size(); i++) {
            assertJsonEquals(cases.get(i).get("result"), scored.get("results").get(i).get("result"), 1e-12, b.name() + " loaded case " + i);
        }
        assertAggregate(task.get("aggregate"), scored.get("aggregate"), b.name() + " loaded");
        List<JsonNode> docs = distinctDocs(cases);
        for (int i = 0; i < task.get("prompts").size(); i++) {
            int row = 0;
            while (!cases.get(row).get("doc").equals(docs.get(i))) {
                row++;
            }
            assertEquals(task.get("prompts").get(i).asText(), b.prompt(loaded.get(row), ModelFamily.QWEN2_5_VL), b.name() + " loaded prompt " + i);
        }
        try (java.util.stream.Stream<Doc> noImages = b.stream(root, false)) {
            List<Doc> textOnly = noImages.toList();
            assertEquals(loaded.size(), textOnly.size());
            for (int i = 0; i < textOnly.size(); i++) {
                assertTrue(textOnly.get(i).images().isEmpty(), b.name() + " row " + i + " read images without asking");
                assertEquals(b.prompt(loaded.get(i), ModelFamily.LLAVA), b.prompt(textOnly.get(i), ModelFamily.LLAVA));
            }
        }
        return loaded;
    }

    /** The fixture's docs, one per case, as parquet rows. */
    public static List<JsonNode> caseDocs(String task) {
        List<JsonNode> docs = new ArrayList<>();
        taskUtils(task).get("cases").forEach(c -> docs.add(c.get("doc")));
        return docs;
    }


    /** Docs in order of first appearance (the fixture's prompts follow that order). */
    public static List<JsonNode> distinctDocs(JsonNode cases) {
        List<JsonNode> docs = new ArrayList<>();
        List<String> seen = new ArrayList<>();
        for (JsonNode c : cases) {
            JsonNode d = c.get("doc");
            String key = d.has("question") ? d.get("question").asText() : d.toString();
            if (!seen.contains(key)) {
                seen.add(key);
                docs.add(d);
            }
        }
        return docs;
    }
}
