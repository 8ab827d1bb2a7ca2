package org.mha2mla.core.config;

/** What every supported vision-language model has in common. */
public sealed interface VlmConfig permits LlavaConfig, Qwen25VlConfig {

    /** transformers' {@code model_type}: llava, llava_next or qwen2_5_vl. */
    String modelType();

    TextConfig textConfig();

    /** The placeholder token the processor expands and the model fills with image features. */
    int imageTokenId();
}
