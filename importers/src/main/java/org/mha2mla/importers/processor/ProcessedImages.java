package org.mha2mla.importers.processor;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The image half of a processor's output, and how many tokens each image's placeholder expands to.
 *
 * @param pixelValues    LLaVA [n, 3, H, W]; LLaVA-NeXT [Σ tiles, 3, S, S] (each image's base image then its tiles);
 *                       Qwen2.5-VL [Σ patches, C·T·P·P]; null without images
 * @param imageSizes     LLaVA-NeXT: original [height, width] per image; null otherwise
 * @param imageGridThw   Qwen2.5-VL: [t, h, w] patch grid per image; null otherwise
 * @param tokensPerImage image tokens per image, in order
 */
public record ProcessedImages(INDArray pixelValues, int[][] imageSizes, int[][] imageGridThw, int[] tokensPerImage) {

    public static final ProcessedImages NONE = new ProcessedImages(null, null, null, new int[0]);

    public int count() {
        return tokensPerImage.length;
    }
}
