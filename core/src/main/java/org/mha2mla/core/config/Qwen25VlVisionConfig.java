package org.mha2mla.core.config;

import java.util.List;

/**
 * The Qwen2.5-VL vision tower: 3-D patch embedding, 2-D rotary embedding, window attention with full
 * attention in {@code fullattBlockIndexes}, RMSNorm + SwiGLU blocks and the 2×2 patch merger that
 * projects to the decoder's width ({@code outHiddenSize}).
 */
public record Qwen25VlVisionConfig(
        int depth,
        int hiddenSize,
        String hiddenAct,
        int intermediateSize,
        int numHeads,
        int inChannels,
        int patchSize,
        int spatialMergeSize,
        int temporalPatchSize,
        double tokensPerSecond,
        int windowSize,
        int outHiddenSize,
        List<Integer> fullattBlockIndexes) {

    public Qwen25VlVisionConfig {
        TextConfig.require(hiddenSize % numHeads == 0,
                "vision hidden_size " + hiddenSize + " is not a multiple of num_heads " + numHeads);
        fullattBlockIndexes = List.copyOf(fullattBlockIndexes);
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }

    /** Flattened length of one patch: channels × temporal × patch × patch. */
    public int patchVolume() {
        return inChannels * temporalPatchSize * patchSize * patchSize;
    }
}
