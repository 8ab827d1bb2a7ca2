package org.mha2mla.core.config;

/** Qwen2.5-VL ({@code model_type "qwen2_5_vl"}): Qwen2 decoder with M-RoPE, and its own vision tower. */
public record Qwen25VlConfig(
        TextConfig textConfig,
        Qwen25VlVisionConfig visionConfig,
        int imageTokenId,
        int videoTokenId,
        int visionStartTokenId,
        int visionEndTokenId) implements VlmConfig {

    public Qwen25VlConfig {
        TextConfig.require(textConfig.isMrope(), "qwen2_5_vl text config has no mrope_section");
    }

    @Override
    public String modelType() {
        return "qwen2_5_vl";
    }
}
