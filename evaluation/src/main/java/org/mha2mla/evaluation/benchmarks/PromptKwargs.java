package org.mha2mla.evaluation.benchmarks;

import java.util.Map;

/**
 * One entry of a task's {@code lmms_eval_specific_kwargs}. lmms-eval picks the entry named exactly as the
 * model ({@code Task._prepare_model_specific_config}) and otherwise {@code default}.
 *
 * @param promptFormat ai2d's {@code prompt_format} (mcq / qa); null for other tasks
 */
public record PromptKwargs(String promptFormat, String prePrompt, String postPrompt) {
    public static PromptKwargs of(String prePrompt, String postPrompt) {
        return new PromptKwargs(null, prePrompt, postPrompt);
    }

    /** The entry lmms-eval uses for the family's model name. */
    public static PromptKwargs resolve(Map<String, PromptKwargs> byModel, ModelFamily family) {
        PromptKwargs own = byModel.get(family.lmmsEvalModel());
        if (own != null) {
            return own;
        }
        PromptKwargs fallback = byModel.get("default");
        if (fallback == null) {
            throw new IllegalStateException("no lmms_eval_specific_kwargs for " + family.lmmsEvalModel() + " and no default");
        }
        return fallback;
    }
}
