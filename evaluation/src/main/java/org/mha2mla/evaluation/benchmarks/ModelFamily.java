package org.mha2mla.evaluation.benchmarks;

import org.mha2mla.importers.family.FamilySpec;
import org.mha2mla.importers.family.FamilySpecs;

/**
 * The model wrappers of lmms-eval the paper evaluated with, named as lmms-eval registers them. Task YAMLs
 * select prompt kwargs by this exact name; none of the tasks here has a {@code llava_hf} or
 * {@code qwen2_5_vl} entry ({@code qwen_vl} is the older Qwen-VL wrapper), so both families get the
 * {@code default} prompts. They differ in the generation defaults their {@code generate_until} applies.
 */
public enum ModelFamily {
    /** {@code llava_hf}, used for LLaVA-1.5 and LLaVA-NeXT: max_new_tokens 1024 when the task sets none;
     *  it pops the task's {@code until} list and never applies it. */
    LLAVA("llava_hf", 1024, false),
    /** {@code qwen2_5_vl}: max_new_tokens 128 when the task sets none; cuts the decoded text at every
     *  {@code until} string except "\n\n". */
    QWEN2_5_VL("qwen2_5_vl", 128, true);

    private final String lmmsEvalModel;
    private final int defaultMaxNewTokens;
    private final boolean appliesUntil;

    ModelFamily(String lmmsEvalModel, int defaultMaxNewTokens, boolean appliesUntil) {
        this.lmmsEvalModel = lmmsEvalModel;
        this.defaultMaxNewTokens = defaultMaxNewTokens;
        this.appliesUntil = appliesUntil;
    }

    /** The {@code --model} name in lmms-eval. */
    public String lmmsEvalModel() {
        return lmmsEvalModel;
    }

    public int defaultMaxNewTokens() {
        return defaultMaxNewTokens;
    }

    public boolean appliesUntil() {
        return appliesUntil;
    }

    /** The family lmms-eval evaluates a model of this config.json {@code model_type} with ({@link FamilySpec#lmmsEvalModel()}). */
    public static ModelFamily forModelType(String modelType) {
        return forLmmsEvalModel(FamilySpecs.of(modelType).lmmsEvalModel());
    }

    /** The wrapper lmms-eval registers as {@code name}. */
    public static ModelFamily forLmmsEvalModel(String name) {
        for (ModelFamily f : values()) if (f.lmmsEvalModel.equals(name)) return f;
        throw new IllegalArgumentException("no lmms-eval model wrapper '" + name + "' (known: "
                + java.util.Arrays.stream(values()).map(ModelFamily::lmmsEvalModel).toList() + ")");
    }
}
