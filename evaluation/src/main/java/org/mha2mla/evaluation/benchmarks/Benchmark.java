package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * One lmms-eval task (lmms-eval 0.3.x, as vendored by MHA2MLA-VLM): where its rows are, the question text
 * it builds, its generation kwargs, its answer-extraction filters and its metrics.
 *
 * <p>The scoring path mirrors lmms-eval's: the raw model response goes through the task's
 * {@code filter_list} ({@link #filter}), then {@code Task.process_results} strips it with Python's
 * {@code str.strip()} and hands it to the task's {@code process_results} function or its
 * {@code metric_list} metrics ({@link #processResults}); {@link #aggregate} applies the metrics'
 * aggregation functions over the per-example results, skipping metrics no example produced (as lmms-eval
 * does, e.g. chartqa's split metrics).
 */
public interface Benchmark {
    /** lmms-eval task name: ai2d, gqa, pope, chartqa, docvqa_val, seedbench, realworldqa, mmbench_en_dev. */
    String name();

    /** The text {@code doc_to_text} returns for the family's {@code lmms_eval_specific_kwargs}. */
    String prompt(Doc doc, ModelFamily family);

    /** The task's {@code generation_kwargs}. */
    GenerationSettings generation();

    /**
     * The evaluation split's rows in dataset order (index = lmms-eval doc_id), read lazily from a local copy
     * of the hub dataset repository; close the stream. Without images, image columns are not even read.
     */
    Stream<Doc> stream(Path dataRoot, boolean withImages) throws IOException;

    /** All rows with their images. */
    default List<Doc> load(Path dataRoot) throws IOException {
        try (Stream<Doc> docs = stream(dataRoot, true)) {
            return docs.toList();
        }
    }

    /** {@code doc_to_target}. */
    JsonNode target(Doc doc);

    /** The task's {@code filter_list} applied to one raw response; the identity for tasks without one. */
    default String filter(Doc doc, String response) {
        return response;
    }

    /** {@code process_results} (or the {@code metric_list} metrics) on the filtered, stripped response. */
    ObjectNode processResults(Doc doc, String response);

    /** The per-example result lmms-eval logs for a raw model response: filter, strip, process. */
    default ObjectNode result(Doc doc, String prediction) {
        return processResults(doc, PyText.strip(filter(doc, prediction)));
    }

    /** Task scores under lmms-eval's metric names. */
    ObjectNode aggregate(List<ObjectNode> results);
}
