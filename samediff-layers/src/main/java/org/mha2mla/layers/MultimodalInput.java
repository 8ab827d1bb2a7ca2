package org.mha2mla.layers;

import org.mha2mla.importers.processor.ProcessedPrompt;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One processed prompt, as a Hugging Face processor returns it: token ids with the image placeholder
 * already expanded, and the image tensors the model's vision tower takes.
 *
 * @param inputIds     token ids, image placeholders expanded (length L)
 * @param pixelValues  null for text-only prompts; LLaVA [n_images, 3, H, W], LLaVA-NeXT [n_images·n_tiles, 3, H, W]
 *                     (tiles of all images concatenated), Qwen2.5-VL [n_patches, C·T·P·P]
 * @param imageSizes   LLaVA-NeXT: original [height, width] per image; null otherwise
 * @param imageGridThw Qwen2.5-VL: [t, h, w] patch grid per image; null otherwise
 */
public record MultimodalInput(long[] inputIds, INDArray pixelValues, int[][] imageSizes, int[][] imageGridThw) {

    public static MultimodalInput text(long[] inputIds) {
        return new MultimodalInput(inputIds, null, null, null);
    }

    /** What an importers processor ({@code VlmProcessor.process}) returned, as model input. */
    public static MultimodalInput of(ProcessedPrompt prompt) {
        return new MultimodalInput(prompt.inputIds(), prompt.pixelValues(), prompt.imageSizes(), prompt.imageGridThw());
    }

    public boolean hasImage() {
        return pixelValues != null;
    }

    public int length() {
        return inputIds.length;
    }
}
