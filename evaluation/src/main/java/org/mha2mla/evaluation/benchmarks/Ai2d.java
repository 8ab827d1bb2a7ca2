package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import org.mha2mla.evaluation.benchmarks.data.HubFiles;
import org.mha2mla.evaluation.benchmarks.data.ParquetRows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * lmms-eval task {@code ai2d} (lmms-lab/ai2d, split test; columns question, options, answer, image).
 * The answer is the index of the right option as a string; the target is its letter. The
 * "flexible-extract" filter reduces a response that opens with {@code X.} to {@code X}; anything else
 * (including "(B)" or "B") is kept for exact match, which ignores case and ASCII punctuation.
 */
public final class Ai2d implements Benchmark {
    public static final List<String> FILES = List.of("data/test-*.parquet", "default/test/*.parquet");
    private static final Map<String, PromptKwargs> KWARGS = Map.of(
            "default", new PromptKwargs("mcq", "", "\nAnswer with the option's letter from the given choices directly."),
            "qwen_vl", new PromptKwargs("qa", "", " Answer:"));
    /** ai2d/utils.py MultiChoiceRegexFilter: {@code re.compile(r"^\s*([A-Z])\.")}, matched at the start. */
    private static final Pattern OPTION_LETTER = Pattern.compile("[" + PyText.SPACE_CLASS + "]*([A-Z])\\.");

    @Override
    public String name() {
        return "ai2d";
    }

    @Override
    public String prompt(Doc doc, ModelFamily family) {
        PromptKwargs kw = PromptKwargs.resolve(KWARGS, family);
        String question = doc.text("question");
        List<String> choices = doc.texts("options");
        if ("mcq".equals(kw.promptFormat())) {
            StringBuilder choicesStr = new StringBuilder();
            for (int i = 0; i < choices.size(); i++) {
                if (i > 0) {
                    choicesStr.append('\n');
                }
                choicesStr.append((char) ('A' + i)).append(". ").append(choices.get(i));
            }
            return kw.prePrompt() + question + "\n" + choicesStr + kw.postPrompt();
        }
        return kw.prePrompt() + question + String.join("\n", choices) + kw.postPrompt();
    }

    @Override
    public GenerationSettings generation() {
        return GenerationSettings.greedy(16, null);
    }

    @Override
    public Stream<Doc> stream(Path dataRoot, boolean withImages) throws IOException {
        return ParquetRows.stream(HubFiles.find(dataRoot, FILES), withImages);
    }

    /** {@code ai2d_doc_to_target(doc, "mcq")}: {@code options[int(doc["answer"])]} as a letter. */
    @Override
    public JsonNode target(Doc doc) {
        int n = doc.texts("options").size();
        long index = PyText.toInt(doc.text("answer"));
        // Python list indexing: a negative index counts from the end.
        long at = index < 0 ? index + n : index;
        if (at < 0 || at >= n) {
            throw new IllegalArgumentException("ai2d answer " + index + " out of range for " + n + " options");
        }
        return TextNode.valueOf(String.valueOf((char) ('A' + at)));
    }

    @Override
    public String filter(Doc doc, String response) {
        Matcher m = OPTION_LETTER.matcher(response);
        return m.lookingAt() ? m.group(1) : response;
    }

    @Override
    public ObjectNode processResults(Doc doc, String response) {
        ObjectNode r = Doc.object();
        r.put("exact_match", LmmsMetrics.exactMatch(response, target(doc).asText(), true, true));
        return r;
    }

    @Override
    public ObjectNode aggregate(List<ObjectNode> results) {
        ObjectNode a = Doc.object();
        LmmsMetrics.putMean(a, results, "exact_match");
        return a;
    }
}
