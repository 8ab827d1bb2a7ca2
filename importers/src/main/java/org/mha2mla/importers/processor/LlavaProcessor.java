package org.mha2mla.importers.processor;

import java.nio.file.Path;
import java.util.List;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.importers.image.ClipImageProcessor;
import org.mha2mla.importers.image.Resampler;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.tokenizer.ChatTemplate;
import org.mha2mla.importers.tokenizer.HfTokenizer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * transformers' {@code LlavaProcessor} (LLaVA-1.5): CLIP image processor, and each {@code <image>} expanded to
 * {@code (H / patch_size) · (W / patch_size) + num_additional_image_tokens} tokens, one less with the "default"
 * feature-select strategy (which drops CLS), H × W being the pixel values' size.
 */
public final class LlavaProcessor implements VlmProcessor {

    private final ProcessorSettings settings;
    private final ClipImageProcessor imageProcessor;
    private final String imageToken;
    private final int imageTokenId;
    private final int patchSize;
    private final int additionalTokens;
    private final boolean dropsCls;

    private LlavaProcessor(ProcessorSettings settings, ClipImageProcessor imageProcessor, String imageToken, int imageTokenId,
                           int patchSize, int additionalTokens, boolean dropsCls) {
        this.settings = settings;
        this.imageProcessor = imageProcessor;
        this.imageToken = imageToken;
        this.imageTokenId = imageTokenId;
        this.patchSize = patchSize;
        this.additionalTokens = additionalTokens;
        this.dropsCls = dropsCls;
    }

    /**
     * processor_config.json gives image_token, patch_size, vision_feature_select_strategy and
     * num_additional_image_tokens; absent ones fall back to config.json (the CLIP tower's patch size and
     * strategy) and to 1 additional token (CLIP's CLS, which every llava-hf processor_config.json states).
     */
    public static LlavaProcessor load(Path modelDir, LlavaConfig config) {
        return load(modelDir, config, Resampler.Backend.TORCHVISION);
    }

    public static LlavaProcessor load(Path modelDir, LlavaConfig config, Resampler.Backend backend) {
        ClipImageProcessor images = ClipImageProcessor.load(modelDir, backend);
        ProcessorSettings s = ProcessorSettings.load(modelDir);
        String token = s.string("image_token", "<image>");
        int id = s.imageTokenId(token, config.imageTokenIndex(), modelDir);
        return new LlavaProcessor(s, images, token, id, s.integer("patch_size", config.visionConfig().patchSize()),
                s.integer("num_additional_image_tokens", 1),
                s.string("vision_feature_select_strategy", config.visionFeatureSelectStrategy()).equals("default"));
    }

    @Override
    public ProcessedImages images(List<RgbImage> images) {
        INDArray pixels = imageProcessor.preprocess(images);
        return new ProcessedImages(pixels, null, null, imageTokenCounts(pixels, null, null));
    }

    /** pixel values [n, 3, H, W]: n images of {@link #tokensPerImage(int, int)} tokens each. */
    @Override
    public int[] imageTokenCounts(INDArray pixelValues, int[][] imageSizes, int[][] imageGridThw) {
        if (pixelValues.rank() != 4) {
            throw new IllegalArgumentException("LLaVA pixel_values must be [n, 3, H, W], got " + java.util.Arrays.toString(pixelValues.shape()));
        }
        int[] counts = new int[(int) pixelValues.size(0)];
        java.util.Arrays.fill(counts, tokensPerImage((int) pixelValues.size(2), (int) pixelValues.size(3)));
        return counts;
    }

    /** The image tokens of one image whose pixel values are {@code height × width}. */
    public int tokensPerImage(int height, int width) {
        return (height / patchSize) * (width / patchSize) + additionalTokens - (dropsCls ? 1 : 0);
    }

    @Override
    public HfTokenizer tokenizer() {
        return settings.tokenizer;
    }

    @Override
    public ChatTemplate chatTemplate() {
        return settings.chatTemplate();
    }

    @Override
    public String imagePlaceholder() {
        return imageToken;
    }

    @Override
    public String imageToken() {
        return imageToken;
    }

    @Override
    public int imageTokenId() {
        return imageTokenId;
    }

    public ClipImageProcessor imageProcessor() {
        return imageProcessor;
    }
}
