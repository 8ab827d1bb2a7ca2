package org.mha2mla.evaluation.benchmarks;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The rule-based answer matching of MMBench ({@code MMBench_Evaluator.can_infer} in lmms-eval's
 * mmbench_evals.py, itself VLMEvalKit's): first a lone option letter among the whitespace-separated
 * tokens ("B", "B.", "(B)", ":B" …), else the one option whose text occurs in the lower-cased answer.
 * lmms-eval asks a GPT judge only when both fail; this project has no judge, so such answers count as
 * wrong (VLMEvalKit's "exact_matching" policy).
 */
public final class MmBenchAnswerMatcher {
    /** {@code can_infer_option}'s (prefix, suffix) pairs, in its order. */
    private static final String[][] AFFIXES = {
            {"", "."}, {"", ","}, {"", ":"}, {"", ")"}, {"", ")."}, {"(", ")"}, {"(", ")."},
            {":", ""}, {":", ","}, {":", "."}, {":", ")"}, {":", ")."}};
    private static final String CHOICES = "ABCDE";

    private MmBenchAnswerMatcher() {
    }

    /** {@code can_infer(answer, choices)}: the letter, or null where Python returns False. */
    public static String canInfer(String answer, Map<String, String> choices) {
        String option = canInferOption(answer);
        return option != null ? option : canInferText(answer, choices);
    }

    /** {@code can_infer_option(answer, num_choice=5)}. */
    public static String canInferOption(String answer) {
        if (answer.contains("Failed to obtain answer via API")) {
            return null;
        }
        List<String> splits = PyText.split(answer).stream().map(PyText::strip).toList();
        if (count(splits, "", "") == 1) {
            for (int i = 0; i < CHOICES.length(); i++) {
                // "A" may be the article: with more than three tokens the bare-letter rule gives up.
                if (splits.contains("A") && splits.size() > 3) {
                    break;
                }
                String ch = CHOICES.substring(i, i + 1);
                if (splits.contains(ch)) {
                    return ch;
                }
            }
        }
        for (String[] affix : AFFIXES) {
            if (count(splits, affix[0], affix[1]) == 1) {
                for (int i = 0; i < CHOICES.length(); i++) {
                    String ch = CHOICES.substring(i, i + 1);
                    if (splits.contains(affix[0] + ch + affix[1])) {
                        return ch;
                    }
                }
            }
        }
        return null;
    }

    /** {@code can_infer_text}: the single option (A–D, in key order) whose lower-cased text is in the answer. */
    public static String canInferText(String answer, Map<String, String> choices) {
        String lower = PyText.lower(answer);
        String found = null;
        int hits = 0;
        for (Map.Entry<String, String> e : choices.entrySet()) {
            if (!"ABCD".contains(e.getKey()) || e.getKey().length() != 1) {
                throw new IllegalArgumentException("MMBench choice key must be one of A-D, got " + e.getKey());
            }
            if (lower.contains(PyText.lower(e.getValue()))) {
                hits++;
                found = found == null ? e.getKey() : found;
            }
        }
        return hits == 1 ? found : null;
    }

    /** {@code build_choices}: options A–D that are not NaN/None, in letter order. */
    public static Map<String, String> buildChoices(Map<String, String> options) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String ch : List.of("A", "B", "C", "D")) {
            String v = options.get(ch);
            if (v != null) {
                out.put(ch, v);
            }
        }
        return out;
    }

    private static int count(List<String> splits, String prefix, String suffix) {
        int cnt = 0;
        for (int i = 0; i < CHOICES.length(); i++) {
            if (splits.contains(prefix + CHOICES.charAt(i) + suffix)) {
                cnt++;
            }
        }
        return cnt;
    }
}
