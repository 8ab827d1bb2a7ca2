package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.benchmarks.data.HubFiles;
import org.mha2mla.evaluation.benchmarks.data.ParquetRows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * lmms-eval task {@code gqa}: lmms-lab/GQA config testdev_balanced_instructions, split testdev (question,
 * answer, imageId, …); the images live in config testdev_balanced_images (id, image) and are joined on
 * {@code imageId} as {@code gqa_doc_to_visual} does. Metric: exact match ignoring case and ASCII
 * punctuation, no answer extraction.
 */
public final class Gqa implements Benchmark {
    public static final List<String> QUESTION_FILES = List.of(
            "testdev_balanced_instructions/testdev-*.parquet", "testdev_balanced_instructions/testdev/*.parquet");
    public static final List<String> IMAGE_FILES = List.of(
            "testdev_balanced_images/testdev-*.parquet", "testdev_balanced_images/testdev/*.parquet");
    private static final Map<String, PromptKwargs> KWARGS = Map.of(
            "default", PromptKwargs.of("", "\nAnswer the question using a single word or phrase."),
            "qwen_vl", PromptKwargs.of("", " Answer:"));

    @Override
    public String name() {
        return "gqa";
    }

    @Override
    public String prompt(Doc doc, ModelFamily family) {
        PromptKwargs kw = PromptKwargs.resolve(KWARGS, family);
        return kw.prePrompt() + doc.text("question") + kw.postPrompt();
    }

    @Override
    public GenerationSettings generation() {
        return GenerationSettings.greedy(16, 1.0);
    }

    @Override
    public Stream<Doc> stream(Path dataRoot, boolean withImages) throws IOException {
        Stream<Doc> questions = ParquetRows.stream(HubFiles.find(dataRoot, QUESTION_FILES), false);
        if (!withImages) {
            return questions;
        }
        Map<String, byte[]> byId = new HashMap<>();
        for (Doc img : ParquetRows.read(HubFiles.find(dataRoot, IMAGE_FILES), true)) {
            byId.put(img.text("id"), img.images().get(0));
        }
        return questions.map(q -> {
            byte[] image = byId.get(q.text("imageId"));
            if (image == null) {
                throw new IllegalArgumentException("gqa imageId " + q.text("imageId") + " not in testdev_balanced_images");
            }
            return new Doc(q.fields(), List.of(image));
        });
    }

    @Override
    public JsonNode target(Doc doc) {
        return doc.get("answer");
    }

    @Override
    public ObjectNode processResults(Doc doc, String response) {
        ObjectNode r = Doc.object();
        r.put("exact_match", LmmsMetrics.exactMatch(response, doc.text("answer"), true, true));
        return r;
    }

    @Override
    public ObjectNode aggregate(List<ObjectNode> results) {
        ObjectNode a = Doc.object();
        LmmsMetrics.putMean(a, results, "exact_match");
        return a;
    }
}
