package org.mha2mla.trainer.data;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;


import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.trainer.LossMask;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The {@link ExampleEncoder} of a model folder: images through the model's image processor once, the conversation
 * through its chat template, every rendering tokenized with the image placeholders expanded to the number of
 * feature tokens each image has, and the assistant tokens labelled by {@link LossMask}.
 */
public final class ChatExampleEncoder implements ExampleEncoder {

    /** What the model's processor provides (implemented over the importers' tokenizer, chat template and image processor). */
    public interface Processor {

        /** The images as the model's vision tower takes them, and how many tokens each expands to. */
        Images images(List<BufferedImage> images);

        /** Token ids of {@code text} (special tokens added as the processor does), image placeholders expanded for {@code images}. */
        long[] tokenize(String text, Images images);

        /** The chat template; LLaVA-instruct's {@code <image>} marks in user messages say where each image goes. */
        String render(List<LossMask.Message> messages, boolean addGenerationPrompt);
    }

    /** Processed images: {@link MultimodalInput}'s pixel_values and image_sizes (LLaVA-NeXT) / image_grid_thw (Qwen2.5-VL). */
    public record Images(INDArray pixelValues, int[][] imageSizes, int[][] imageGridThw) {
        public static final Images NONE = new Images(null, null, null);
    }

    private final Processor processor;

    public ChatExampleEncoder(Processor processor) {
        this.processor = processor;
    }

    @Override
    public TrainingExample encode(InstructSample sample, Path imageRoot) {
        return encode(sample, readImages(sample, imageRoot));
    }

    /** The sample's images, read from under {@code imageRoot}. */
    public static List<BufferedImage> readImages(InstructSample sample, Path imageRoot) {
        List<BufferedImage> pictures = new ArrayList<>();
        for (String rel : sample.images()) pictures.add(read(imageRoot.resolve(rel), sample.id()));
        return pictures;
    }

    /** Encodes {@code sample} with its images already read (a caller that keeps the pictures reads each file once). */
    public TrainingExample encode(InstructSample sample, List<BufferedImage> pictures) {
        Images images = pictures.isEmpty() ? Images.NONE : processor.images(pictures);
        List<LossMask.Message> messages = sample.messages();
        int marks = 0;
        for (LossMask.Message m : messages) marks += count(m.content(), InstructSample.IMAGE_PLACEHOLDER);
        if (marks != pictures.size()) {
            throw new IllegalArgumentException("sample '" + sample.id() + "' has " + pictures.size() + " image(s) but "
                    + marks + " " + InstructSample.IMAGE_PLACEHOLDER + " mark(s) in its conversation");
        }
        LossMask.Labeled l;
        try {
            l = LossMask.build(messages, processor::render, text -> processor.tokenize(text, images));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("sample '" + sample.id() + "': " + e.getMessage(), e);
        }
        return new TrainingExample(sample.id(), new MultimodalInput(l.inputIds(), images.pixelValues(), images.imageSizes(),
                images.imageGridThw()), l.labels());
    }

    private static BufferedImage read(Path file, String id) {
        try {
            if (!Files.isRegularFile(file)) throw new IllegalArgumentException("sample '" + id + "': image " + file + " not found");
            BufferedImage img = RgbImage.decode(file.toFile(), "sample '" + id + "': " + file);
            if (img == null) throw new IllegalArgumentException("sample '" + id + "': " + file + " is not an image ImageIO can read");
            return img;
        } catch (IOException e) {
            throw new UncheckedIOException("sample '" + id + "': cannot read " + file, e);
        }
    }

    private static int count(String s, String mark) {
        int n = 0;
        for (int i = s.indexOf(mark); i >= 0; i = s.indexOf(mark, i + mark.length())) n++;
        return n;
    }
}
