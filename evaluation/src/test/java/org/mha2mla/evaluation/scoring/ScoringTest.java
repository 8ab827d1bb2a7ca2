package org.mha2mla.evaluation.scoring;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.mha2mla.evaluation.benchmarks.Fixtures;
import org.mha2mla.evaluation.benchmarks.PyText;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ScoringTest {
    private static final List<String> FIXTURE_TASKS = List.of("ai2d", "pope", "chartqa", "docvqa_val", "gqa", "seedbench", "realworldqa");

    /** The cases file format of `mha2mla score`: [{"doc", "prediction"}, ...]. */
    private static ArrayNode casesFile(JsonNode cases) {
        ArrayNode out = Fixtures.JSON.createArrayNode();
        for (JsonNode c : cases) {
            out.addObject().setAll((ObjectNode) Fixtures.JSON.createObjectNode()
                    .<ObjectNode>set("doc", c.get("doc")).put("prediction", c.get("prediction").asText()));
        }
        return out;
    }

    /** Task-utility mode reproduces every case and aggregate of lmms_eval_scoring.json. */
    @Test
    void taskUtilityModeReproducesTheFixture() {
        for (String task : FIXTURE_TASKS) {
            JsonNode fixture = Fixtures.taskUtils(task);
            ObjectNode out = Scoring.score(task, casesFile(fixture.get("cases")), false);
            assertEquals(task, out.get("task").asText());
            JsonNode results = out.get("results");
            assertEquals(fixture.get("cases").size(), results.size(), task);
            for (int i = 0; i < results.size(); i++) {
                JsonNode c = fixture.get("cases").get(i);
                JsonNode r = results.get(i);
                assertEquals(i, r.get("doc_id").intValue());
                assertEquals(c.get("prediction").asText(), r.get("prediction").asText());
                if (c.has("filtered")) {
                    assertEquals(c.get("filtered").asText(), r.get("filtered").asText(), task + " " + i);
                }
                if (c.has("target")) {
                    assertEquals(c.get("target"), r.get("target"), task + " " + i);
                }
                Fixtures.assertJsonEquals(c.get("result"), r.get("result"), 1e-12, task + " case " + i);
            }
            Fixtures.assertAggregate(fixture.get("aggregate"), out.get("aggregate"), task);
        }
    }

    /** mha2mla score's output: exactly task, the fixture's per-example results, and its aggregate. */
    @Test
    void reportHoldsTheResultFieldsAndTheAggregate() {
        for (String task : FIXTURE_TASKS) {
            JsonNode fixture = Fixtures.taskUtils(task);
            ObjectNode out = Scoring.report(task, casesFile(fixture.get("cases")), false);
            assertEquals(List.of("task", "results", "aggregate"), iterable(out.fieldNames()));
            for (int i = 0; i < fixture.get("cases").size(); i++) {
                Fixtures.assertJsonEquals(fixture.get("cases").get(i).get("result"), out.get("results").get(i), 1e-12, task + " report " + i);
            }
            assertEquals(fixture.get("cases").size(), out.get("results").size());
            Fixtures.assertAggregate(fixture.get("aggregate"), out.get("aggregate"), task + " report");
        }
    }

    private static List<String> iterable(java.util.Iterator<String> it) {
        List<String> out = new java.util.ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }

    /** The default (harness) mode reproduces lmms_eval_harness_cases.json, mmbench included. */
    @Test
    void harnessModeReproducesLmmsEvalRuns() {
        for (String task : List.of("ai2d", "pope", "chartqa", "docvqa_val", "gqa", "seedbench", "realworldqa", "mmbench_en_dev")) {
            JsonNode fixture = Fixtures.harness(task);
            ObjectNode out = Scoring.score(task, casesFile(fixture.get("cases")));
            for (int i = 0; i < fixture.get("cases").size(); i++) {
                Fixtures.assertJsonEquals(fixture.get("cases").get(i).get("result"), out.get("results").get(i).get("result"),
                        1e-12, task + " harness case " + i);
            }
            Fixtures.assertAggregate(fixture.get("aggregate"), out.get("aggregate"), task);
        }
    }

    /** The two modes differ exactly where a filtered response has surrounding whitespace. */
    @Test
    void modesDifferOnlyOnSurroundingWhitespace() {
        JsonNode cases = casesFile(Fixtures.taskUtils("gqa").get("cases"));
        JsonNode utils = Scoring.score("gqa", cases, false).get("results");
        JsonNode harness = Scoring.score("gqa", cases, true).get("results");
        for (int i = 0; i < cases.size(); i++) {
            String filtered = utils.get(i).get("filtered").asText();
            boolean same = utils.get(i).get("result").equals(harness.get(i).get("result"));
            assertEquals(filtered.equals(PyText.strip(filtered)), same, "case " + i + " '" + filtered + "'");
        }
    }

    @Test
    void malformedCasesNameTheCase() {
        ArrayNode cases = Fixtures.JSON.createArrayNode();
        cases.addObject().put("prediction", "B");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Scoring.score("ai2d", cases));
        assertTrue(e.getMessage().contains("case 0"), e.getMessage());
        ArrayNode missingField = Fixtures.JSON.createArrayNode();
        missingField.addObject().put("prediction", "B").putObject("doc").put("question", "q");
        e = assertThrows(IllegalArgumentException.class, () -> Scoring.score("ai2d", missingField));
        assertTrue(e.getMessage().contains("ai2d case 0") && e.getMessage().contains("'options'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Scoring.score("ai2d", Fixtures.JSON.createObjectNode()));
    }
}
