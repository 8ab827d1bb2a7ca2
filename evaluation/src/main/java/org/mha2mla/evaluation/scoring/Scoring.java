package org.mha2mla.evaluation.scoring;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.benchmarks.Benchmark;
import org.mha2mla.evaluation.benchmarks.Benchmarks;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.PyText;

import java.util.ArrayList;
import java.util.List;

/**
 * Scores model responses the way lmms-eval does, for {@code mha2mla score} (a JSON list of
 * {@code {"doc": {...}, "prediction": "..."}}) and for the evaluation loop (docs + responses).
 *
 * <p>Output: {@code {"task", "results": [{"doc_id", "target", "prediction", "filtered", "result"}],
 * "aggregate"}}, where {@code filtered} is the filter output before the harness strip and {@code result}
 * the per-example result under lmms-eval's field names.
 *
 * <p>{@code harnessStrip}: lmms-eval's {@code Task.process_results} applies {@code str.strip()} to every
 * filtered response before the task's scorer sees it (true, the default, is what an lmms-eval run reports).
 * False calls the task's scorer on the filtered text as is, as the task utilities are called on their
 * own (this is how lmms_eval_scoring.json's cases were produced).
 */
public final class Scoring {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private Scoring() {
    }

    /** {@code score(task, cases, true)}. */
    public static ObjectNode score(String task, JsonNode cases) {
        return score(task, cases, true);
    }

    public static ObjectNode score(String task, JsonNode cases, boolean harnessStrip) {
        if (cases == null || !cases.isArray()) {
            throw new IllegalArgumentException("cases must be a JSON list of {\"doc\": {...}, \"prediction\": \"...\"}");
        }
        List<Doc> docs = new ArrayList<>();
        List<String> predictions = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            JsonNode c = cases.get(i);
            JsonNode doc = c.get("doc");
            JsonNode prediction = c.get("prediction");
            if (doc == null || prediction == null || !prediction.isTextual()) {
                throw new IllegalArgumentException("case " + i + " needs \"doc\" (object) and \"prediction\" (string): " + c);
            }
            docs.add(Doc.of(doc));
            predictions.add(prediction.asText());
        }
        return score(Benchmarks.byName(task), docs, predictions, harnessStrip);
    }

    /**
     * What {@code mha2mla score} prints: {@code {"task", "results": [per-example result], "aggregate"}}, the
     * per-example results under lmms-eval's field names (as lmms_eval_scoring.json's {@code result}).
     */
    public static ObjectNode report(String task, JsonNode cases, boolean harnessStrip) {
        ObjectNode scored = score(task, cases, harnessStrip);
        ObjectNode out = JSON.objectNode();
        out.put("task", scored.get("task").asText());
        ArrayNode results = out.putArray("results");
        scored.get("results").forEach(r -> results.add(r.get("result")));
        out.set("aggregate", scored.get("aggregate"));
        return out;
    }

    /** Scores responses to docs (doc_id = position). */
    public static ObjectNode score(Benchmark benchmark, List<Doc> docs, List<String> predictions, boolean harnessStrip) {
        if (docs.size() != predictions.size()) {
            throw new IllegalArgumentException(benchmark.name() + ": " + docs.size() + " docs but "
                    + predictions.size() + " predictions");
        }
        ArrayNode results = JSON.arrayNode();
        List<ObjectNode> perExample = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) {
            Doc doc = docs.get(i);
            String prediction = predictions.get(i);
            try {
                String filtered = benchmark.filter(doc, prediction);
                ObjectNode result = benchmark.processResults(doc, harnessStrip ? PyText.strip(filtered) : filtered);
                ObjectNode entry = results.addObject();
                entry.put("doc_id", i);
                entry.set("target", benchmark.target(doc));
                entry.put("prediction", prediction);
                entry.put("filtered", filtered);
                entry.set("result", result);
                perExample.add(result);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(benchmark.name() + " case " + i + ": " + e.getMessage(), e);
            }
        }
        ObjectNode out = JSON.objectNode();
        out.put("task", benchmark.name());
        out.set("results", results);
        out.set("aggregate", benchmark.aggregate(perExample));
        return out;
    }
}
