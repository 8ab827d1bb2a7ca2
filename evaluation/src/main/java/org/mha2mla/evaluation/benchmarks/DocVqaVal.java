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
 * lmms-eval task {@code docvqa_val}: lmms-lab/DocVQA config DocVQA, split validation (questionId, question,
 * question_types, image, docId, ucsf_document_id, ucsf_document_page_no, answers, data_split). Metric: ANLS
 * with threshold 0.5 against every reference answer.
 */
public final class DocVqaVal implements Benchmark {
    public static final List<String> FILES = List.of("DocVQA/validation-*.parquet", "DocVQA/validation/*.parquet");
    private static final Map<String, PromptKwargs> KWARGS = Map.of(
            "default", PromptKwargs.of("", "\nAnswer the question using a single word or phrase."),
            "qwen_vl", PromptKwargs.of("", " Answer:"));

    @Override
    public String name() {
        return "docvqa_val";
    }

    @Override
    public String prompt(Doc doc, ModelFamily family) {
        PromptKwargs kw = PromptKwargs.resolve(KWARGS, family);
        return kw.prePrompt() + doc.text("question") + kw.postPrompt();
    }

    @Override
    public GenerationSettings generation() {
        return GenerationSettings.greedy(32, null);
    }

    @Override
    public Stream<Doc> stream(Path dataRoot, boolean withImages) throws IOException {
        return ParquetRows.stream(HubFiles.find(dataRoot, FILES), withImages);
    }

    @Override
    public JsonNode target(Doc doc) {
        return doc.get("answers");
    }

    @Override
    public ObjectNode processResults(Doc doc, String response) {
        ObjectNode r = Doc.object();
        r.set("anls", LmmsMetrics.anls(doc.texts("answers"), response, 0.5));
        return r;
    }

    @Override
    public ObjectNode aggregate(List<ObjectNode> results) {
        ObjectNode a = Doc.object();
        LmmsMetrics.putMean(a, results, "anls");
        return a;
    }
}
