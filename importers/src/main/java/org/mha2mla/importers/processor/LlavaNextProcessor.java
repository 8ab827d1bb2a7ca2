package org.mha2mla.importers.processor;

import java.nio.file.Path;
import java.util.List;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.importers.image.LlavaNextImageProcessor;
import org.mha2mla.importers.image.Resampler;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.tokenizer.ChatTemplate;
import org.mha2mla.importers.tokenizer.HfTokenizer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * transformers' {@code LlavaNextProcessor}: anyres image processor, and each {@code <image>} expanded to
 * {@code _get_number_of_features}: the base image's patches (+ num_additional_image_tokens, − 1 for the "default"
 * strategy), plus the tile grid's features with the letterbox padding cut away ({@code _get_unpadded_features})
 * and one {@code image_newline} per remaining feature row.
 */
public final class LlavaNextProcessor implements VlmProcessor {

    private final ProcessorSettings settings;
    private final LlavaNextImageProcessor imageProcessor;
    private final String imageToken;
    private final int imageTokenId;
    private final int patchSize;
    private final int additionalTokens;
    private final boolean dropsCls;

    private LlavaNextProcessor(ProcessorSettings settings, LlavaNextImageProcessor imageProcessor, String imageToken,
                               int imageTokenId, int patchSize, int additionalTokens, boolean dropsCls) {
        this.settings = settings;
        this.imageProcessor = imageProcessor;
        this.imageToken = imageToken;
        this.imageTokenId = imageTokenId;
        this.patchSize = patchSize;
        this.additionalTokens = additionalTokens;
        this.dropsCls = dropsCls;
    }

    /** As {@link LlavaProcessor#load}, with the anyres image processor. */
    public static LlavaNextProcessor load(Path modelDir, LlavaConfig config) {
        return load(modelDir, config, Resampler.Backend.TORCHVISION);
    }

    public static LlavaNextProcessor load(Path modelDir, LlavaConfig config, Resampler.Backend backend) {
        LlavaNextImageProcessor images = LlavaNextImageProcessor.load(modelDir, backend);
        ProcessorSettings s = ProcessorSettings.load(modelDir);
        String token = s.string("image_token", "<image>");
        int id = s.imageTokenId(token, config.imageTokenIndex(), modelDir);
        return new LlavaNextProcessor(s, images, token, id, s.integer("patch_size", config.visionConfig().patchSize()),
                s.integer("num_additional_image_tokens", 1),
                s.string("vision_feature_select_strategy", config.visionFeatureSelectStrategy()).equals("default"));
    }

    @Override
    public ProcessedImages images(List<RgbImage> images) {
        LlavaNextImageProcessor.Result r = imageProcessor.preprocess(images);
        return new ProcessedImages(r.pixelValues(), r.imageSizes(), null, imageTokenCounts(r.pixelValues(), r.imageSizes(), null));
    }

    /** One count per entry of {@code imageSizes}, for tiles of the pixel values' last two dimensions. */
    @Override
    public int[] imageTokenCounts(INDArray pixelValues, int[][] imageSizes, int[][] imageGridThw) {
        if (imageSizes == null) throw new IllegalArgumentException("LLaVA-NeXT needs image_sizes to count image tokens");
        int height = (int) pixelValues.size(pixelValues.rank() - 2);
        int width = (int) pixelValues.size(pixelValues.rank() - 1);
        int[] counts = new int[imageSizes.length];
        for (int i = 0; i < counts.length; i++) counts[i] = tokensPerImage(imageSizes[i][0], imageSizes[i][1], height, width);
        return counts;
    }

    /** _get_number_of_features for an original {@code origHeight × origWidth} image and tiles of {@code height × width}. */
    public int tokensPerImage(int origHeight, int origWidth, int height, int width) {
        int[] best = LlavaNextImageProcessor.selectBestResolution(new int[]{origHeight, origWidth}, imageProcessor.pinpoints());
        int scaleHeight = best[0] / height;
        int scaleWidth = best[1] / width;
        int patchesHeight = height / patchSize;
        int patchesWidth = width / patchSize;
        int[] unpadded = unpaddedFeatures(origHeight, origWidth, patchesHeight, patchesWidth, scaleHeight, scaleWidth);
        int base = patchesHeight * patchesWidth + additionalTokens;
        return unpadded[0] + unpadded[1] + base - (dropsCls ? 1 : 0);
    }

    /**
     * _get_unpadded_features: {unpadded features, newline features} of the {@code patches · scale} grid once the
     * rows (or columns) that only cover padding are removed; {@code int(round(x, 7))} as transformers rounds.
     */
    static int[] unpaddedFeatures(int height, int width, int patchesHeight, int patchesWidth, int scaleHeight, int scaleWidth) {
        int currentHeight = patchesHeight * scaleHeight;
        int currentWidth = patchesWidth * scaleWidth;
        double originalAspect = (double) width / height;
        double currentAspect = (double) currentWidth / currentHeight;
        if (originalAspect > currentAspect) {
            int newHeight = roundTo7Truncated(height * ((double) currentWidth / width));
            int padding = (currentHeight - newHeight) / 2;
            currentHeight -= padding * 2;
        } else {
            int newWidth = roundTo7Truncated(width * ((double) currentHeight / height));
            int padding = (currentWidth - newWidth) / 2;
            currentWidth -= padding * 2;
        }
        return new int[]{currentHeight * currentWidth, currentHeight};
    }

    /** Python's {@code int(round(x, 7))}: round the exact binary value half-to-even at 7 decimals, then truncate. */
    static int roundTo7Truncated(double x) {
        return new java.math.BigDecimal(x).setScale(7, java.math.RoundingMode.HALF_EVEN).intValue();
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

    public LlavaNextImageProcessor imageProcessor() {
        return imageProcessor;
    }
}
