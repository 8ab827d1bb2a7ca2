package org.mha2mla.importers.processor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.family.FamilySpecs;
import org.mha2mla.importers.image.Resampler;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.tokenizer.ChatMessage;
import org.mha2mla.importers.tokenizer.ChatTemplate;
import org.mha2mla.importers.tokenizer.HfTokenizer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A model folder's processor (transformers' {@code AutoProcessor}): tokenizer, chat template and image processor,
 * and the expansion of each image placeholder into as many image tokens as the model produces for that image.
 * One implementation per architecture: {@link LlavaProcessor}, {@link LlavaNextProcessor}, {@link Qwen25VlProcessor}.
 */
public interface VlmProcessor extends AutoCloseable {

    /**
     * The processor of {@code config.json}'s model_type ({@link FamilySpecs}), resizing images as
     * transformers 5's default torchvision backend does.
     */
    static VlmProcessor load(Path modelDir) {
        return load(modelDir, Resampler.Backend.TORCHVISION);
    }

    /** With the resize of the given image-processor backend (PIL: transformers' {@code *ImageProcessorPil}). */
    static VlmProcessor load(Path modelDir, Resampler.Backend backend) {
        VlmConfig config = HfConfigParser.read(modelDir);
        return FamilySpecs.of(config).processor(modelDir, config, backend);
    }

    HfTokenizer tokenizer();

    /** The chat template; a {@link org.mha2mla.importers.tokenizer.TokenizerException} if the folder has none. */
    ChatTemplate chatTemplate();

    /** What the chat template writes for one image ({@code <image>}; {@code <|vision_start|><|image_pad|><|vision_end|>}). */
    String imagePlaceholder();

    /** The token the processor repeats per image feature ({@code <image>}; {@code <|image_pad|>}). */
    String imageToken();

    int imageTokenId();

    /** The images through the image processor, with each one's token count. */
    ProcessedImages images(List<RgbImage> images);

    /**
     * The image tokens of each image in already processed image tensors (the shapes of {@link ProcessedImages});
     * what {@link #images} puts in {@code tokensPerImage}.
     */
    int[] imageTokenCounts(INDArray pixelValues, int[][] imageSizes, int[][] imageGridThw);

    /**
     * Token ids of {@code text} (special tokens added as the processor does), the i-th {@link #imageToken()}
     * replaced by {@code images.tokensPerImage()[i]} copies; the counts of placeholders and images must agree.
     */
    default long[] tokenize(String text, ProcessedImages images) {
        return tokenizer().encode(Placeholders.expand(text, imageToken(), images.tokensPerImage()));
    }

    /** {@code processor(text=text, images=images)}. */
    default ProcessedPrompt process(String text, List<RgbImage> images) {
        ProcessedImages p = images.isEmpty() ? ProcessedImages.NONE : images(images);
        return new ProcessedPrompt(tokenize(text, p), p.pixelValues(), p.imageSizes(), p.imageGridThw());
    }

    /**
     * The prompt for one user message with {@code images} images before its text, rendered with the chat template
     * and the generation prompt ({@code apply_chat_template([...], add_generation_prompt=True)}).
     */
    default String userPrompt(String message, int images) {
        List<ChatMessage> messages = new ArrayList<>();
        messages.add(ChatMessage.withImages("user", images, message));
        return chatTemplate().render(messages, true);
    }

    @Override
    default void close() {
        tokenizer().close();
    }
}
