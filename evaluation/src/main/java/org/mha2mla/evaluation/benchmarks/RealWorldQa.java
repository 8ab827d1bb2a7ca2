package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.benchmarks.data.HubFiles;
import org.mha2mla.evaluation.benchmarks.data.ParquetRows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * lmms-eval task {@code realworldqa} (lmms-lab/RealWorldQA, split test; image, question, answer). The
 * question already carries its options and instruction, and the default kwargs add nothing. The
 * "flexible-extract" filter maps a whole-response number word to its digit, then strips punctuation from
 * the response and maps an option's text found in it back to the option's letter (letters assigned A, B, …
 * in the order the {@code X. text} lines appear); exact match ignores case and ASCII punctuation.
 *
 * <p>lmms-eval zips the filtered responses with the split's docs in dataset order; under data parallelism
 * (accelerate, 8 processes in the paper's scripts) a rank's responses then meet other questions' option
 * lists. Here every response meets its own doc, which is what the single-process run computes.
 */
public final class RealWorldQa implements Benchmark {
    public static final List<String> FILES = List.of("data/test-*.parquet", "default/test/*.parquet");
    /** realworldqa/utils.py REPLACE_PROMPT, removed only when a non-empty post_prompt replaces it. */
    public static final String REPLACE_PROMPT = "Please answer directly with only the letter of the correct option and nothing else.";
    private static final Map<String, PromptKwargs> KWARGS = Map.of(
            "default", PromptKwargs.of("", ""),
            "gpt4v", PromptKwargs.of("", ""));
    private static final Map<String, String> NUMBER_WORDS = Map.ofEntries(
            Map.entry("zero", "0"), Map.entry("one", "1"), Map.entry("two", "2"), Map.entry("three", "3"),
            Map.entry("four", "4"), Map.entry("five", "5"), Map.entry("six", "6"), Map.entry("seven", "7"),
            Map.entry("eight", "8"), Map.entry("nine", "9"), Map.entry("ten", "10"));
    /** {@code r"\b([A-Z])\.\s+([^\n]*)"}: \b before a word character is "no word character before it". */
    private static final Pattern CHOICE_LINE = Pattern.compile(
            "(?<![" + PyText.WORD_CLASS + "])([A-Z])\\.[" + PyText.SPACE_CLASS + "]+([^\\n]*)");
    /** {@code r"[^\w\s]"}. */
    private static final Pattern NOT_WORD_OR_SPACE = Pattern.compile("[^" + PyText.WORD_CLASS + PyText.SPACE_CLASS + "]");

    @Override
    public String name() {
        return "realworldqa";
    }

    @Override
    public String prompt(Doc doc, ModelFamily family) {
        PromptKwargs kw = PromptKwargs.resolve(KWARGS, family);
        String question = PyText.strip(doc.text("question"));
        String post = "";
        if (kw.postPrompt() != null && !kw.postPrompt().isEmpty()) {
            question = question.replace(REPLACE_PROMPT, "");
            post = kw.postPrompt();
        }
        return kw.prePrompt() + question + post;
    }

    @Override
    public GenerationSettings generation() {
        return GenerationSettings.greedy(16, 1.0);
    }

    @Override
    public Stream<Doc> stream(Path dataRoot, boolean withImages) throws IOException {
        return ParquetRows.stream(HubFiles.find(dataRoot, FILES), withImages);
    }

    @Override
    public JsonNode target(Doc doc) {
        return doc.get("answer");
    }

    /** NumberWordsToDigitsFilter, then MultiChoiceRegexFilter. */
    @Override
    public String filter(Doc doc, String response) {
        return multiChoice(doc.text("question"), numberWordsToDigits(response));
    }

    /** {@code mapping_dict.get(resp.lower(), resp)}: only a response that is exactly a number word. */
    public static String numberWordsToDigits(String response) {
        return NUMBER_WORDS.getOrDefault(PyText.lower(response), response);
    }

    /** realworldqa/utils.py {@code MultiChoiceRegexFilter.apply} for one response. */
    public static String multiChoice(String question, String response) {
        Map<String, String> choiceToAlpha = new LinkedHashMap<>();
        List<String> fallback = new ArrayList<>();
        char nextAlpha = 'A';
        Matcher m = CHOICE_LINE.matcher(question);
        while (m.find()) {
            String choiceText = PyText.strip(m.group(2));
            fallback.add(Pattern.quote(choiceText));
            choiceToAlpha.put(choiceText, String.valueOf(nextAlpha));
            nextAlpha++;
        }
        String cleaned = PyText.strip(NOT_WORD_OR_SPACE.matcher(response).replaceAll(""));
        // re.compile("|".join(...)).search: leftmost position, first alternative in option order.
        Matcher hit = Pattern.compile(String.join("|", fallback)).matcher(cleaned);
        if (hit.find() && choiceToAlpha.containsKey(hit.group())) {
            return choiceToAlpha.get(hit.group());
        }
        return cleaned;
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
