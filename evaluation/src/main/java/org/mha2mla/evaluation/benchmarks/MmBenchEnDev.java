package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.benchmarks.data.HubFiles;
import org.mha2mla.evaluation.benchmarks.data.MmBenchTsv;
import org.mha2mla.evaluation.benchmarks.data.ParquetRows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * lmms-eval task {@code mmbench_en_dev}: lmms-lab/MMBench config en, split dev (index, question, hint,
 * answer, A–D, category, image, source, L2-category, comment, split), or the official MMBench_DEV_EN.tsv.
 * Rows whose index is ≥ 10⁶ are the circular (option-shifted) copies of row {@code index % 10⁶}; a question
 * counts as solved only if every copy is answered right.
 *
 * <p><b>Not lmms-eval's score.</b> lmms-eval's aggregate {@code gpt_eval_score} asks a GPT-3.5 judge to
 * map an answer to an option whenever the rule-based matcher ({@link MmBenchAnswerMatcher}) fails. This
 * class implements only the rule-based matching and counts unmatched answers as wrong, reported as
 * {@code rule_eval_score} (same scale: percent) with {@code unmatched}, the number of responses the
 * matcher could not map to an option (the judge's only input). When every response is matched the two
 * scores are equal.
 */
public final class MmBenchEnDev implements Benchmark {
    public static final List<String> FILES = List.of("en/dev-*.parquet", "en/dev/*.parquet");
    /** mmbench.yaml metadata.sys_prompt. */
    public static final String SYS_PROMPT = "There are several options:";
    private static final Map<String, PromptKwargs> KWARGS = Map.of(
            "default", PromptKwargs.of("", "\nAnswer with the option's letter from the given choices directly."));
    private static final List<String> OPTION_CANDIDATES = List.of("A", "B", "C", "D", "E");
    private static final long CIRCULAR = 1_000_000L;

    @Override
    public String name() {
        return "mmbench_en_dev";
    }

    /**
     * {@code mmbench_doc_to_text}: {@code "{hint} {question} {options}"} (hint left out when None/"nan"),
     * options as {@code create_options_prompt} lists them, then {@code "\n" + post_prompt}, whose own leading
     * newline leaves a blank line before the instruction.
     */
    @Override
    public String prompt(Doc doc, ModelFamily family) {
        PromptKwargs kw = PromptKwargs.resolve(KWARGS, family);
        StringBuilder options = new StringBuilder(SYS_PROMPT).append('\n');
        for (String key : OPTION_CANDIDATES) {
            if (!doc.has(key) || !truthy(doc.get(key))) {
                continue;
            }
            JsonNode item = doc.get(key);
            if (!item.isNull() && !PyText.str(item).equals("nan")) {
                options.append(key).append(". ").append(PyText.str(item)).append('\n');
            }
        }
        String optionsPrompt = PyText.rstrip(options.toString(), "\n");
        JsonNode hint = doc.has("hint") ? doc.get("hint") : null;
        String query = hint != null && !hint.isNull() && !PyText.str(hint).equals("nan")
                ? PyText.str(hint) + " " + doc.text("question") + " " + optionsPrompt
                : doc.text("question") + " " + optionsPrompt;
        return query + "\n" + kw.postPrompt();
    }

    @Override
    public GenerationSettings generation() {
        return new GenerationSettings(1024, 0.0, 1.0, 1, false, List.of("ASSISTANT:"));
    }

    /** From {@code dataRoot} as a hub copy (en/dev-*.parquet), or a .tsv file / a folder holding MMBench_DEV_EN*.tsv. */
    @Override
    public Stream<Doc> stream(Path dataRoot, boolean withImages) throws IOException {
        if (Files.isRegularFile(dataRoot) && dataRoot.toString().endsWith(".tsv")) {
            return MmBenchTsv.read(dataRoot, withImages).stream();
        }
        if (Files.isDirectory(dataRoot)) {
            try (Stream<Path> list = Files.list(dataRoot)) {
                List<Path> tsv = list.filter(p -> p.getFileName().toString().matches("MMBench_DEV_EN.*\\.tsv")).sorted().toList();
                if (!tsv.isEmpty()) {
                    return MmBenchTsv.read(tsv.get(0), withImages).stream();
                }
            }
        }
        return ParquetRows.stream(HubFiles.find(dataRoot, FILES), withImages);
    }

    @Override
    public JsonNode target(Doc doc) {
        return doc.get("answer");
    }

    /** {@code mmbench_process_results}: the row and the stripped response, under gpt_eval_score and submission. */
    @Override
    public ObjectNode processResults(Doc doc, String response) {
        ObjectNode item = Doc.object();
        item.set("index", doc.get("index"));
        item.set("question", doc.get("question"));
        item.set("answer", doc.get("answer"));
        item.put("prediction", PyText.strip(response));
        for (String key : List.of("hint", "source", "split", "category", "L2-category")) {
            item.set(key, doc.has(key) ? doc.get(key) : JsonNodeFactory.instance.nullNode());
        }
        for (String c : OPTION_CANDIDATES) {
            item.set(c, doc.has(c) ? doc.get(c) : JsonNodeFactory.instance.textNode("nan"));
        }
        ObjectNode r = Doc.object();
        r.set("gpt_eval_score", item);
        r.set("submission", item.deepCopy());
        return r;
    }

    /**
     * {@code MMBench_Evaluator.eval_result} with the judge replaced by "unmatched = wrong": per main question
     * (index &lt; 10⁶) hit = 1 iff every row with the same index mod 10⁶ has a matched letter equal to its
     * answer; overall, per-category and per-L2-category hit rates (category keys sorted as pandas groupby).
     */
    @Override
    public ObjectNode aggregate(List<ObjectNode> results) {
        Map<Long, List<JsonNode>> byQuestion = new TreeMap<>();
        List<JsonNode> mains = new ArrayList<>();
        for (ObjectNode r : results) {
            JsonNode item = r.get("gpt_eval_score");
            long index = index(item.get("index"));
            byQuestion.computeIfAbsent(index % CIRCULAR, k -> new ArrayList<>()).add(item);
            if (index < CIRCULAR) {
                mains.add(item);
            }
        }
        int unmatched = 0;
        Map<Long, Integer> hit = new LinkedHashMap<>();
        for (Map.Entry<Long, List<JsonNode>> e : byQuestion.entrySet()) {
            int ok = 1;
            for (JsonNode item : e.getValue()) {
                Map<String, String> options = new LinkedHashMap<>();
                for (String c : List.of("A", "B", "C", "D")) {
                    JsonNode v = item.get(c);
                    options.put(c, v == null || v.isNull() ? null : PyText.str(v));
                }
                String pred = MmBenchAnswerMatcher.canInfer(item.get("prediction").asText(),
                        MmBenchAnswerMatcher.buildChoices(options));
                if (pred == null) {
                    unmatched++;
                    ok = 0;
                } else if (!pred.equals(PyText.str(item.get("answer")))) {
                    ok = 0;
                }
            }
            hit.put(e.getKey(), ok);
        }
        ObjectNode a = Doc.object();
        if (mains.isEmpty()) {
            return a;
        }
        double total = 0;
        Map<String, double[]> categories = new TreeMap<>();
        Map<String, double[]> l2 = new TreeMap<>();
        for (JsonNode item : mains) {
            int h = hit.get(index(item.get("index")));
            total += h;
            accumulate(categories, item.get("category"), h);
            accumulate(l2, item.get("L2-category"), h);
        }
        double overall = total / mains.size();
        a.put("rule_eval_score", overall * 100);
        a.put("overall_acc", overall);
        a.put("unmatched", unmatched);
        a.set("category_acc", rates(categories));
        a.set("l2_category_acc", rates(l2));
        return a;
    }

    private static void accumulate(Map<String, double[]> acc, JsonNode key, int hit) {
        if (key == null || key.isNull()) {
            return;
        }
        double[] sumCount = acc.computeIfAbsent(PyText.str(key), k -> new double[2]);
        sumCount[0] += hit;
        sumCount[1] += 1;
    }

    private static ObjectNode rates(Map<String, double[]> acc) {
        ObjectNode out = Doc.object();
        acc.forEach((k, v) -> out.put(k, v[0] / v[1]));
        return out;
    }

    private static long index(JsonNode v) {
        if (v == null || v.isNull()) {
            throw new IllegalArgumentException("MMBench row without index");
        }
        return v.isNumber() ? v.longValue() : PyText.toInt(v.asText());
    }

    /** Python truthiness of a row value ({@code if row_data[cand]}). */
    private static boolean truthy(JsonNode v) {
        if (v == null || v.isNull()) {
            return false;
        }
        if (v.isTextual()) {
            return !v.asText().isEmpty();
        }
        if (v.isNumber()) {
            return v.doubleValue() != 0;
        }
        if (v.isBoolean()) {
            return v.booleanValue();
        }
        return v.size() > 0;
    }
}
