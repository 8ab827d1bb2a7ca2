package org.mha2mla.evaluation.benchmarks;

import java.util.ArrayList;
import java.util.List;

/**
 * A task's {@code generation_kwargs} after lmms-eval's TaskConfig post-processing (which adds
 * {@code until: ["\n\n"]} when the YAML gives none). {@code maxNewTokens} is null where the task leaves
 * it to the model wrapper; {@code topP} is null where the task does not set it.
 */
public record GenerationSettings(Integer maxNewTokens, double temperature, Double topP, int numBeams,
                                 boolean doSample, List<String> until) {
    /** lmms-eval's {@code fewshot_delimiter}, the default stop string. */
    public static final String FEWSHOT_DELIMITER = "\n\n";

    public GenerationSettings {
        until = List.copyOf(until);
    }

    /** Greedy settings with a token budget and the default {@code until}. */
    public static GenerationSettings greedy(int maxNewTokens, Double topP) {
        return new GenerationSettings(maxNewTokens, 0.0, topP, 1, false, List.of(FEWSHOT_DELIMITER));
    }

    /** Both wrappers sample only when temperature > 0; every task here is greedy. */
    public boolean greedy() {
        return temperature <= 0;
    }

    /** The token budget the family's wrapper uses. */
    public int maxNewTokens(ModelFamily family) {
        return maxNewTokens != null ? maxNewTokens : family.defaultMaxNewTokens();
    }

    /** Stop strings the family's wrapper cuts the decoded text at (qwen2_5_vl drops "\n\n"; llava_hf none). */
    public List<String> stopStrings(ModelFamily family) {
        List<String> out = new ArrayList<>();
        if (family.appliesUntil()) {
            for (String term : until) {
                if (!term.equals(FEWSHOT_DELIMITER) && !term.isEmpty()) {
                    out.add(term);
                }
            }
        }
        return out;
    }

    /** The wrapper's post-processing of the decoded text: {@code ans = ans.split(term)[0]} per stop string. */
    public String truncate(ModelFamily family, String decoded) {
        String ans = decoded;
        for (String term : stopStrings(family)) {
            int at = ans.indexOf(term);
            if (at >= 0) {
                ans = ans.substring(0, at);
            }
        }
        return ans;
    }
}
