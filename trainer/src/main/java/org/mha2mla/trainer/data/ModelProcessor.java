package org.mha2mla.trainer.data;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.processor.ProcessedImages;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.importers.tokenizer.ChatMessage;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.trainer.LossMask;

/**
 * {@link ChatExampleEncoder.Processor} over a model folder's own processor ({@link VlmProcessor}: tokenizer,
 * chat template, image processor), so training examples are tokenized exactly as transformers' processor would.
 *
 * <p>LLaVA-instruct marks images with {@code <image>} inside the text of a turn; for the chat template each turn
 * becomes processor-style list content, the text cut at every mark into text parts and image parts (the newline
 * that follows a mark goes with it, since templates write their own separator after an image).
 */
public final class ModelProcessor implements ChatExampleEncoder.Processor, AutoCloseable {

    private final VlmProcessor processor;

    public ModelProcessor(VlmProcessor processor) {
        this.processor = processor;
    }

    /** The processor of a Hugging Face model folder (closed with this object). */
    public static ModelProcessor load(Path modelDir) {
        return new ModelProcessor(VlmProcessor.load(modelDir));
    }

    /** One user turn with {@code image} before {@code message}, rendered with the generation prompt: a model's input. */
    public MultimodalInput prompt(String message, BufferedImage image) {
        return MultimodalInput.of(processor.process(processor.userPrompt(message, 1), List.of(RgbImage.of(image, "image"))));
    }

    @Override
    public ChatExampleEncoder.Images images(List<BufferedImage> images) {
        List<RgbImage> rgb = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) rgb.add(RgbImage.of(images.get(i), "image " + i));
        ProcessedImages p = processor.images(rgb);
        return new ChatExampleEncoder.Images(p.pixelValues(), p.imageSizes(), p.imageGridThw());
    }

    @Override
    public long[] tokenize(String text, ChatExampleEncoder.Images images) {
        if (images.pixelValues() == null) return processor.tokenize(text, ProcessedImages.NONE);
        int[] counts = processor.imageTokenCounts(images.pixelValues(), images.imageSizes(), images.imageGridThw());
        return processor.tokenize(text, new ProcessedImages(images.pixelValues(), images.imageSizes(), images.imageGridThw(), counts));
    }

    @Override
    public String render(List<LossMask.Message> messages, boolean addGenerationPrompt) {
        List<ChatMessage> chat = new ArrayList<>();
        for (LossMask.Message m : messages) chat.add(ChatMessage.of(m.role(), parts(m.content())));
        return processor.chatTemplate().render(chat, addGenerationPrompt);
    }

    /** "{@code <image>\nWhat is it?}" → [image, text "What is it?"]; marks anywhere in the text keep their order. */
    static List<ChatMessage.Part> parts(String content) {
        String mark = InstructSample.IMAGE_PLACEHOLDER;
        List<ChatMessage.Part> parts = new ArrayList<>();
        int from = 0;
        for (int at = content.indexOf(mark); at >= 0; at = content.indexOf(mark, from)) {
            if (at > from) parts.add(new ChatMessage.Text(content.substring(from, at)));
            parts.add(new ChatMessage.Image());
            from = at + mark.length();
            if (content.startsWith("\n", from)) from++;
        }
        if (from < content.length() || parts.isEmpty()) parts.add(new ChatMessage.Text(content.substring(from)));
        return parts;
    }

    public VlmProcessor processor() {
        return processor;
    }

    @Override
    public void close() {
        processor.close();
    }
}
