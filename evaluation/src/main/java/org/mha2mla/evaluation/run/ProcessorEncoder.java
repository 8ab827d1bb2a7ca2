package org.mha2mla.evaluation.run;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;


import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.layers.MultimodalInput;

/**
 * The {@link RequestEncoder} of a model folder: its own Hugging Face processor (importers' {@link VlmProcessor}).
 * One user turn with the doc's images before the task prompt, rendered with the chat template and the generation
 * prompt, image placeholders expanded and pixel values computed as transformers' processor does; outputs are
 * decoded with special tokens skipped.
 */
public final class ProcessorEncoder implements RequestEncoder {

    private final VlmProcessor processor;

    public ProcessorEncoder(VlmProcessor processor) {
        this.processor = processor;
    }

    /** The processor of {@code modelDir} (original or converted model folder). */
    public static ProcessorEncoder load(Path modelDir) {
        return new ProcessorEncoder(VlmProcessor.load(modelDir));
    }

    /** The prompt text after the chat template, before placeholder expansion. */
    public String render(String text, int imageCount) {
        return processor.userPrompt(text, imageCount);
    }

    @Override
    public MultimodalInput encode(String text, List<byte[]> images) {
        List<RgbImage> decoded = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) decoded.add(decode(images.get(i), "image " + i + " of the request"));
        return MultimodalInput.of(processor.process(render(text, decoded.size()), decoded));
    }

    private static RgbImage decode(byte[] bytes, String name) {
        try {
            BufferedImage img = RgbImage.decode(bytes, name);
            if (img == null) throw new IllegalArgumentException(name + ": " + bytes.length + " bytes that are no image ImageIO can read");
            return RgbImage.of(img, name);
        } catch (IOException e) {
            throw new UncheckedIOException(name + ": cannot decode", e);
        }
    }

    @Override
    public String decode(long[] ids) {
        return processor.tokenizer().decode(ids, true);
    }

    @Override
    public void close() {
        processor.close();
    }
}
