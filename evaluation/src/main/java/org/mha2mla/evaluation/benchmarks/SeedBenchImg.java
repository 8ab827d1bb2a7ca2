package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.benchmarks.data.HubFiles;
import org.mha2mla.evaluation.benchmarks.data.ParquetRows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * lmms-eval task {@code seedbench} (lmms-lab/SEED-Bench, split test; answer, choice_a…choice_d, data_id,
 * data_type, question, question_id, question_type_id, image as a list of images). The score is the first
 * character of the stripped response against the answer letter, case-insensitively: "(B)" and "The answer
 * is B" are wrong. lmms-eval runs image and video rows alike; {@link #stream} keeps the image rows
 * (SEED-Bench-img, 14k) unless the instance was made with {@code includeVideo}, so {@code seed_all} here
 * covers what was loaded.
 */
public final class SeedBenchImg implements Benchmark {
    public static final List<String> FILES = List.of("data/test-*.parquet", "default/test/*.parquet");
    public static final List<String> METRICS = List.of("seed_image", "seed_video", "seed_all");
    private static final String POST_PROMPT = "\nAnswer with the option's letter from the given choices directly.";

    private final boolean includeVideo;

    public SeedBenchImg() {
        this(false);
    }

    public SeedBenchImg(boolean includeVideo) {
        this.includeVideo = includeVideo;
    }

    @Override
    public String name() {
        return "seedbench";
    }

    /** {@code seed_doc_to_text}: the task has no model-specific kwargs. */
    @Override
    public String prompt(Doc doc, ModelFamily family) {
        return doc.text("question") + "\n" + "A. " + doc.text("choice_a") + "\n"
                + "B. " + doc.text("choice_b") + "\n"
                + "C. " + doc.text("choice_c") + "\n"
                + "D. " + doc.text("choice_d")
                + POST_PROMPT;
    }

    /** until ["ASSISTANT:"] and no token budget: the model wrapper's default applies (1024 / 128). */
    @Override
    public GenerationSettings generation() {
        return new GenerationSettings(null, 0.0, null, 1, false, List.of("ASSISTANT:"));
    }

    @Override
    public Stream<Doc> stream(Path dataRoot, boolean withImages) throws IOException {
        Stream<Doc> all = ParquetRows.stream(HubFiles.find(dataRoot, FILES), withImages);
        return includeVideo ? all : all.filter(d -> d.text("data_type").equals("image"));
    }

    @Override
    public JsonNode target(Doc doc) {
        return doc.get("answer");
    }

    /** {@code seed_process_result}: {@code pred = result[0].strip(); if len(pred) > 1: pred = pred[0]}. */
    @Override
    public ObjectNode processResults(Doc doc, String response) {
        String pred = PyText.strip(response);
        if (PyText.len(pred) > 1) {
            pred = new String(Character.toChars(pred.codePointAt(0)));
        }
        ObjectNode r = Doc.object();
        for (String key : List.of("seed_" + doc.text("data_type"), "seed_all")) {
            ObjectNode item = r.putObject(key);
            item.put("pred", pred);
            item.set("answer", doc.get("answer"));
            item.set("question_id", doc.get("question_id"));
        }
        return r;
    }

    /** {@code seed_aggregation_result} per metric over the examples that carry it. */
    @Override
    public ObjectNode aggregate(List<ObjectNode> results) {
        ObjectNode a = Doc.object();
        for (String metric : METRICS) {
            List<JsonNode> items = new ArrayList<>();
            for (ObjectNode r : results) {
                if (r.has(metric)) {
                    items.add(r.get(metric));
                }
            }
            if (items.isEmpty()) {
                continue;
            }
            int correct = 0;
            for (JsonNode it : items) {
                String pred = PyText.strip(PyText.lower(it.get("pred").asText()));
                String answer = PyText.strip(PyText.lower(it.get("answer").asText()));
                if (pred.equals(answer)) {
                    correct++;
                }
            }
            a.put(metric, (double) correct / items.size());
        }
        return a;
    }
}
