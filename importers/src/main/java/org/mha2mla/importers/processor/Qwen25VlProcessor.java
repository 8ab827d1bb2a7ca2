package org.mha2mla.importers.processor;

import java.nio.file.Path;
import java.util.List;

import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.image.Qwen2VlImageProcessor;
import org.mha2mla.importers.image.Resampler;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.tokenizer.ChatTemplate;
import org.mha2mla.importers.tokenizer.HfTokenizer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * transformers' {@code Qwen2_5_VLProcessor}: Qwen2-VL image processor, and each {@code <|image_pad|>} (which the
 * chat template writes between {@code <|vision_start|>} and {@code <|vision_end|>}) expanded to
 * {@code t · h · w / merge_size²} tokens, one per merged 2×2 block of patches. No special tokens are added by the
 * tokenizer.
 */
public final class Qwen25VlProcessor implements VlmProcessor {

    private final ProcessorSettings settings;
    private final Qwen2VlImageProcessor imageProcessor;
    private final String imageToken;
    private final int imageTokenId;
    private final String visionStart;
    private final String visionEnd;

    private Qwen25VlProcessor(ProcessorSettings settings, Qwen2VlImageProcessor imageProcessor, String imageToken, int imageTokenId,
                              String visionStart, String visionEnd) {
        this.settings = settings;
        this.imageProcessor = imageProcessor;
        this.imageToken = imageToken;
        this.imageTokenId = imageTokenId;
        this.visionStart = visionStart;
        this.visionEnd = visionEnd;
    }

    public static Qwen25VlProcessor load(Path modelDir, Qwen25VlConfig config) {
        return load(modelDir, config, Resampler.Backend.TORCHVISION);
    }

    public static Qwen25VlProcessor load(Path modelDir, Qwen25VlConfig config, Resampler.Backend backend) {
        Qwen2VlImageProcessor images = Qwen2VlImageProcessor.load(modelDir, backend);
        if (images.patchSize() != config.visionConfig().patchSize() || images.mergeSize() != config.visionConfig().spatialMergeSize()
                || images.temporalPatchSize() != config.visionConfig().temporalPatchSize()) {
            throw new ConfigException(modelDir + ": image processor patch_size/merge_size/temporal_patch_size " + images.patchSize() + "/"
                    + images.mergeSize() + "/" + images.temporalPatchSize() + " differ from the vision tower's "
                    + config.visionConfig().patchSize() + "/" + config.visionConfig().spatialMergeSize() + "/"
                    + config.visionConfig().temporalPatchSize());
        }
        ProcessorSettings s = ProcessorSettings.load(modelDir);
        String token = s.string("image_token", "<|image_pad|>");
        int id = s.imageTokenId(token, config.imageTokenId(), modelDir);
        return new Qwen25VlProcessor(s, images, token, id, "<|vision_start|>", "<|vision_end|>");
    }

    @Override
    public ProcessedImages images(List<RgbImage> images) {
        Qwen2VlImageProcessor.Result r = imageProcessor.preprocess(images);
        return new ProcessedImages(r.pixelValues(), null, r.imageGridThw(), imageTokenCounts(r.pixelValues(), null, r.imageGridThw()));
    }

    /** t·h·w / merge_size² per entry of {@code imageGridThw}. */
    @Override
    public int[] imageTokenCounts(INDArray pixelValues, int[][] imageSizes, int[][] imageGridThw) {
        if (imageGridThw == null) throw new IllegalArgumentException("Qwen2.5-VL needs image_grid_thw to count image tokens");
        int merge = imageProcessor.mergeSize() * imageProcessor.mergeSize();
        int[] counts = new int[imageGridThw.length];
        for (int i = 0; i < counts.length; i++) counts[i] = imageGridThw[i][0] * imageGridThw[i][1] * imageGridThw[i][2] / merge;
        return counts;
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
        return visionStart + imageToken + visionEnd;
    }

    @Override
    public String imageToken() {
        return imageToken;
    }

    @Override
    public int imageTokenId() {
        return imageTokenId;
    }

    public Qwen2VlImageProcessor imageProcessor() {
        return imageProcessor;
    }
}
