package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.benchmarks.data.HubFiles;
import org.mha2mla.evaluation.benchmarks.data.ParquetRows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * lmms-eval task {@code chartqa} (lmms-lab/ChartQA, split test; type, question, answer, image). Relaxed
 * accuracy (Methani et al., as in Qwen-VL's evaluate_vqa.py): numbers within 5 % relative error of a
 * non-zero numeric target, otherwise case-insensitive string equality. Reported overall and per split
 * ({@code type} human_test → human split, anything else → augmented split).
 */
public final class ChartQa implements Benchmark {
    public static final List<String> FILES = List.of("data/test-*.parquet", "default/test/*.parquet");
    private static final Map<String, PromptKwargs> KWARGS = Map.of(
            "default", PromptKwargs.of("", "\nAnswer the question with a single word."),
            "qwen_vl", PromptKwargs.of("", " Answer:"));

    @Override
    public String name() {
        return "chartqa";
    }

    @Override
    public String prompt(Doc doc, ModelFamily family) {
        PromptKwargs kw = PromptKwargs.resolve(KWARGS, family);
        return kw.prePrompt() + doc.text("question") + kw.postPrompt();
    }

    @Override
    public GenerationSettings generation() {
        return GenerationSettings.greedy(16, null);
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
        double score = relaxedCorrectness(response, doc.text("answer"), 0.05) ? 1.0 : 0.0;
        ObjectNode r = Doc.object();
        r.put("relaxed_overall", score);
        if (doc.text("type").equals("human_test")) {
            r.put("relaxed_human_split", score);
        } else {
            r.put("relaxed_augmented_split", score);
        }
        return r;
    }

    /**
     * {@code relaxed_correctness}: a trailing '%' divides by 100 (all trailing '%' go, as rstrip does); a
     * zero target is falsy in Python and falls back to string comparison; NaN targets are truthy.
     */
    public static boolean relaxedCorrectness(String prediction, String target, double maxRelativeChange) {
        Double p = toFloat(prediction);
        Double t = toFloat(target);
        if (p != null && t != null && t != 0.0) {
            double relativeChange = Math.abs(p - t) / Math.abs(t);
            return relativeChange <= maxRelativeChange;
        }
        return PyText.lower(prediction).equals(PyText.lower(target));
    }

    private static Double toFloat(String text) {
        if (text.endsWith("%")) {
            Double v = PyText.toFloat(PyText.rstrip(text, "%"));
            return v == null ? null : v / 100.0;
        }
        return PyText.toFloat(text);
    }

    @Override
    public ObjectNode aggregate(List<ObjectNode> results) {
        ObjectNode a = Doc.object();
        LmmsMetrics.putMean(a, results, "relaxed_overall");
        LmmsMetrics.putMean(a, results, "relaxed_human_split");
        LmmsMetrics.putMean(a, results, "relaxed_augmented_split");
        return a;
    }
}
