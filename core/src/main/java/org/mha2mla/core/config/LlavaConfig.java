package org.mha2mla.core.config;

import java.util.List;

/**
 * LLaVA-1.5 ({@code model_type "llava"}) and LLaVA-NeXT ({@code "llava_next"}): a CLIP tower, a two-layer
 * projector and a Llama decoder. LLaVA-NeXT adds anyres tiling over {@code imageGridPinpoints} and the
 * learned {@code image_newline} row separator; for LLaVA-1.5 the pinpoint list is empty.
 *
 * @param visionFeatureLayer          index into the tower's hidden states (−2: the penultimate layer)
 * @param visionFeatureSelectStrategy "default" drops the CLS token, "full" keeps it
 * @param imageGridPinpoints          [height, width] resolutions anyres may tile to
 */
public record LlavaConfig(
        String modelType,
        TextConfig textConfig,
        ClipVisionConfig visionConfig,
        int imageTokenIndex,
        String projectorHiddenAct,
        int visionFeatureLayer,
        String visionFeatureSelectStrategy,
        boolean multimodalProjectorBias,
        List<int[]> imageGridPinpoints) implements VlmConfig {

    public LlavaConfig {
        TextConfig.require(modelType.equals("llava") || modelType.equals("llava_next"),
                "LlavaConfig model_type must be llava or llava_next, got " + modelType);
        TextConfig.require(visionFeatureSelectStrategy.equals("default") || visionFeatureSelectStrategy.equals("full"),
                "vision_feature_select_strategy must be default or full, got " + visionFeatureSelectStrategy);
        imageGridPinpoints = imageGridPinpoints == null ? List.of() : List.copyOf(imageGridPinpoints);
    }

    public boolean isNext() {
        return modelType.equals("llava_next");
    }

    @Override
    public int imageTokenId() {
        return imageTokenIndex;
    }
}
