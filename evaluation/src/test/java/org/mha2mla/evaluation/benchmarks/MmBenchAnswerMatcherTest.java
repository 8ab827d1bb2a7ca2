package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class MmBenchAnswerMatcherTest {
    /** lmms-eval's own can_infer on the harness cases' predictions and build_choices options. */
    @Test
    void matchesLmmsEvalCanInfer() {
        JsonNode rows = Fixtures.harness("mmbench_en_dev").get("can_infer");
        for (JsonNode row : rows) {
            Map<String, String> choices = new LinkedHashMap<>();
            row.get("choices").fields().forEachRemaining(e -> choices.put(e.getKey(), e.getValue().asText()));
            JsonNode expected = row.get("can_infer");
            String got = MmBenchAnswerMatcher.canInfer(row.get("prediction").asText(), choices);
            assertEquals(expected.isNull() ? null : expected.asText(), got, row.toString());
        }
    }

    /** The rules of can_infer_option, one per line of the original. */
    @Test
    void optionRules() {
        assertEquals("C", MmBenchAnswerMatcher.canInferOption("C"));
        assertEquals("B", MmBenchAnswerMatcher.canInferOption("The answer is B"));
        // "A" with more than three tokens may be the article: the bare-letter rule gives up ...
        assertNull(MmBenchAnswerMatcher.canInferOption("A cat on a mat"));
        // ... but a decorated letter still counts.
        assertEquals("A", MmBenchAnswerMatcher.canInferOption("A cat, so (A)"));
        // Two bare letters: ambiguous.
        assertNull(MmBenchAnswerMatcher.canInferOption("B or C"));
        assertEquals("E", MmBenchAnswerMatcher.canInferOption("E."));
        assertNull(MmBenchAnswerMatcher.canInferOption("Failed to obtain answer via API: B"));
    }

    @Test
    void textRuleNeedsExactlyOneOption() {
        Map<String, String> choices = new LinkedHashMap<>();
        choices.put("A", "Red");
        choices.put("B", "Dark red");
        choices.put("C", "Blue");
        assertEquals("C", MmBenchAnswerMatcher.canInferText("It is blue.", choices));
        assertNull(MmBenchAnswerMatcher.canInferText("dark red", choices));
        assertNull(MmBenchAnswerMatcher.canInferText("green", choices));
    }

    @Test
    void buildChoicesDropsOnlyMissingOptions() {
        Map<String, String> options = new LinkedHashMap<>();
        options.put("D", "nan");
        options.put("A", "x");
        options.put("B", null);
        options.put("C", "");
        assertEquals("{A=x, C=, D=nan}", MmBenchAnswerMatcher.buildChoices(options).toString());
    }
}
