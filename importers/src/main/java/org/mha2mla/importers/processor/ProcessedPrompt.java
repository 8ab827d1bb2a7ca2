package org.mha2mla.importers.processor;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What a Hugging Face processor returns for one prompt: token ids with every image placeholder expanded to its
 * image's token count, and the image tensors (see {@link ProcessedImages} for the shapes; null when text-only).
 */
public record ProcessedPrompt(long[] inputIds, INDArray pixelValues, int[][] imageSizes, int[][] imageGridThw) {

    public boolean hasImage() {
        return pixelValues != null;
    }

    public int length() {
        return inputIds.length;
    }
}
