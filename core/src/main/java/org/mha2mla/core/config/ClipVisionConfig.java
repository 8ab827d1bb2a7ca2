package org.mha2mla.core.config;

/**
 * CLIP ViT as used by the LLaVA family. {@code hiddenAct} is "quick_gelu" unless the hub file says
 * otherwise (CLIP's default, which llava-1.5 checkpoints leave out).
 */
public record ClipVisionConfig(
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numChannels,
        int imageSize,
        int patchSize,
        String hiddenAct,
        double layerNormEps,
        int projectionDim) {

    public ClipVisionConfig {
        TextConfig.require(hiddenSize % numAttentionHeads == 0,
                "vision hidden_size " + hiddenSize + " is not a multiple of num_attention_heads " + numAttentionHeads);
        TextConfig.require(imageSize % patchSize == 0,
                "vision image_size " + imageSize + " is not a multiple of patch_size " + patchSize);
    }

    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** Patches per side of the square input (image_size / patch_size). */
    public int patchesPerSide() {
        return imageSize / patchSize;
    }

    /** Positions in the embedding table: the CLS token plus every patch. */
    public int numPositions() {
        return patchesPerSide() * patchesPerSide() + 1;
    }
}
