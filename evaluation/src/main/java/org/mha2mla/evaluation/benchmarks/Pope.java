package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.benchmarks.data.HubFiles;
import org.mha2mla.evaluation.benchmarks.data.ParquetRows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * lmms-eval task {@code pope} (lmms-lab/POPE, default config, split test; question_id, question, answer,
 * image_source, image, category). The response is lower-cased and stripped and must equal "yes"/"no"
 * exactly ("yes." is wrong and counts as neither answer). Precision and recall count "yes" as positive;
 * {@code pope_yes_ratio} is the share of "yes" in the ground truth, as pope/utils.py computes it.
 */
public final class Pope implements Benchmark {
    public static final List<String> FILES = List.of("data/test-*.parquet", "default/test/*.parquet");
    public static final List<String> METRICS = List.of(
            "pope_accuracy", "pope_precision", "pope_recall", "pope_f1_score", "pope_yes_ratio");
    private static final Map<String, PromptKwargs> KWARGS = Map.of(
            "default", PromptKwargs.of("", "\nAnswer the question using a single word or phrase."),
            "plm", PromptKwargs.of("", "\nYour response must be concise."));

    @Override
    public String name() {
        return "pope";
    }

    @Override
    public String prompt(Doc doc, ModelFamily family) {
        PromptKwargs kw = PromptKwargs.resolve(KWARGS, family);
        return kw.prePrompt() + PyText.strip(doc.text("question")) + kw.postPrompt();
    }

    @Override
    public GenerationSettings generation() {
        return GenerationSettings.greedy(128, 1.0);
    }

    @Override
    public Stream<Doc> stream(Path dataRoot, boolean withImages) throws IOException {
        return ParquetRows.stream(HubFiles.find(dataRoot, FILES), withImages);
    }

    @Override
    public JsonNode target(Doc doc) {
        return doc.get("answer");
    }

    @Override
    public ObjectNode processResults(Doc doc, String response) {
        String pred = PyText.strip(PyText.lower(response));
        String gt = PyText.strip(PyText.lower(doc.text("answer")));
        if (!gt.equals("yes") && !gt.equals("no")) {
            throw new IllegalArgumentException("pope ground truth must be yes/no, got '" + doc.text("answer") + "'");
        }
        double score = pred.equals(gt) ? 1.0 : 0.0;
        ObjectNode r = Doc.object();
        for (String metric : METRICS) {
            ObjectNode item = r.putObject(metric);
            item.set("question_id", doc.get("question_id"));
            item.put("score", score);
            item.put("prediction", pred);
            item.put("ground_truth", gt);
        }
        return r;
    }

    @Override
    public ObjectNode aggregate(List<ObjectNode> results) {
        ObjectNode a = Doc.object();
        if (results.isEmpty()) {
            return a;
        }
        List<JsonNode> items = results.stream().map(r -> r.get("pope_accuracy")).toList();
        double total = 0;
        for (JsonNode it : items) {
            total += it.get("score").doubleValue();
        }
        a.set("pope_accuracy", DoubleNode.valueOf(total / items.size()));
        JsonNode precision = precision(items);
        JsonNode recall = recall(items);
        a.set("pope_precision", precision);
        a.set("pope_recall", recall);
        double p = precision.doubleValue();
        double rc = recall.doubleValue();
        a.set("pope_f1_score", p + rc > 0 ? DoubleNode.valueOf(2 * (p * rc) / (p + rc)) : IntNode.valueOf(0));
        a.set("pope_yes_ratio", yesRatio(items));
        return a;
    }

    // Each returns the Python int 0 where pope/utils.py does (empty denominator), otherwise a float.
    private static JsonNode precision(List<JsonNode> items) {
        int tp = 0;
        int fp = 0;
        for (JsonNode it : items) {
            String pred = it.get("prediction").asText();
            String gt = it.get("ground_truth").asText();
            if (gt.equals("yes") && pred.equals("yes")) {
                tp++;
            } else if (gt.equals("no") && pred.equals("yes")) {
                fp++;
            }
        }
        return tp + fp > 0 ? DoubleNode.valueOf((double) tp / (tp + fp)) : IntNode.valueOf(0);
    }

    private static JsonNode recall(List<JsonNode> items) {
        int tp = 0;
        int fn = 0;
        for (JsonNode it : items) {
            String pred = it.get("prediction").asText();
            String gt = it.get("ground_truth").asText();
            if (gt.equals("yes") && pred.equals("yes")) {
                tp++;
            } else if (gt.equals("yes") && pred.equals("no")) {
                fn++;
            }
        }
        return tp + fn > 0 ? DoubleNode.valueOf((double) tp / (tp + fn)) : IntNode.valueOf(0);
    }

    private static JsonNode yesRatio(List<JsonNode> items) {
        int yes = 0;
        int no = 0;
        for (JsonNode it : items) {
            String gt = it.get("ground_truth").asText();
            if (gt.equals("yes")) {
                yes++;
            } else if (gt.equals("no")) {
                no++;
            }
        }
        return yes + no > 0 ? DoubleNode.valueOf((double) yes / (yes + no)) : IntNode.valueOf(0);
    }
}
