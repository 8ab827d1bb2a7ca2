package org.mha2mla.evaluation.run;

import java.util.List;

import org.mha2mla.layers.MultimodalInput;

/**
 * Turns one benchmark request into model input and generated ids back into text, as the model's Hugging Face
 * processor does inside lmms-eval's model wrapper (llava_hf, qwen2_5_vl): the user turn holds the images and
 * the prompt text, the chat template is applied with the generation prompt, image placeholders are expanded,
 * pixel values computed; the output is decoded with special tokens skipped.
 */
public interface RequestEncoder extends AutoCloseable {

    /**
     * @param text   the task's prompt ({@code Benchmark.prompt})
     * @param images the doc's images, encoded (PNG/JPEG bytes as the dataset stores them), in order
     */
    MultimodalInput encode(String text, List<byte[]> images);

    /** The text of generated ids, special tokens skipped ({@code batch_decode(..., skip_special_tokens=True)}). */
    String decode(long[] ids);

    /** Releases the tokenizer's native resources. */
    @Override
    default void close() {
    }
}
