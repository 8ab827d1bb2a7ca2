package org.mha2mla.layers.llava;

import java.util.Map;
import java.util.function.LongFunction;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.AbstractVisionLanguageModel;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.RopeTables;
import org.mha2mla.layers.vision.ClipVisionTower;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * LlavaForConditionalGeneration (LLaVA-1.5): CLIP features of layer −2 without CLS → projector → written over
 * the {@code <image>} tokens (already expanded to one per patch by the processor) → Llama decoder at positions
 * 0..L−1. {@link LlavaNextModel} adds anyres tiling and packing on top.
 */
public class LlavaModel extends AbstractVisionLanguageModel {

    static final String LANGUAGE_MODEL = "language_model.model.";
    static final String LM_HEAD = "language_model.lm_head.weight";
    /** Canonical (hub) prefix of the CLIP transformer; KeyLayout adds vision_model for files that lack it. */
    static final String VISION_TOWER = "vision_tower.vision_model.";
    static final String IMAGE_FEATURES = "image_features";

    protected final LlavaConfig config;
    private SameDiff vision;

    /**
     * A model over {@code weights} (canonical hub keys: {@code language_model.model.layers.N…},
     * {@code vision_tower.vision_model…}, {@code multi_modal_projector…}); its decoder's attention follows
     * {@code conversion} (partial RoPE or MLA; null: the original).
     */
    public LlavaModel(LlavaConfig config, Mha2MlaConfig conversion, TensorSource weights) {
        this(config, conversion, weights, false);
        if (config.isNext()) throw new IllegalArgumentException("model_type llava_next: use LlavaNextModel");
    }

    LlavaModel(LlavaConfig config, Mha2MlaConfig conversion, TensorSource weights, boolean next) {
        super(config, conversion, weights, LANGUAGE_MODEL, LM_HEAD);
        this.config = config;
    }

    @Override
    public LlavaConfig config() {
        return config;
    }

    @Override
    public LlavaModel with(Mha2MlaConfig conversion, TensorSource weights) {
        return new LlavaModel(config, conversion, weights);
    }

    /** CLIP tower and projector over float32 copies of their weights, built on the first image. */
    private synchronized SameDiff vision() {
        if (vision == null) {
            SameDiff sd = weightGraph("vision_tower.", LlavaProjector.PREFIX);
            new ClipVisionTower(sd, config.visionConfig(), VISION_TOWER, config.visionFeatureLayer(), config.visionFeatureSelectStrategy());
            new LlavaProjector(sd, config).forward(IMAGE_FEATURES, sd.getVariable(ClipVisionTower.FEATURES));
            vision = sd;
        }
        return vision;
    }

    /** Projected features [N, P, d] of N images or tiles [N, C, S, S]. */
    protected INDArray projectedFeatures(INDArray pixelValues) {
        long s = config.visionConfig().imageSize();
        if (pixelValues.rank() != 4 || pixelValues.size(1) != config.visionConfig().numChannels()
                || pixelValues.size(2) != s || pixelValues.size(3) != s) {
            throw new IllegalArgumentException("pixel_values must be [N, " + config.visionConfig().numChannels() + ", "
                    + s + ", " + s + "], got " + java.util.Arrays.toString(pixelValues.shape()));
        }
        // A fresh c-order float copy: views (offsets, strides) fed as placeholders are not read correctly.
        INDArray pixels = pixelValues.castTo(DataType.FLOAT).dup('c');
        return vision().output(Map.of(ClipVisionTower.PIXEL_VALUES, pixels), IMAGE_FEATURES).get(IMAGE_FEATURES);
    }

    /** Image features [Σ tokens, d] that replace the image tokens of {@code input}, in order. */
    public INDArray imageFeatures(MultimodalInput input) {
        INDArray f = projectedFeatures(input.pixelValues());
        return f.reshape(f.size(0) * f.size(1), f.size(2));
    }

    /** The decoder input for one prompt: embeddings with image features merged, positions 0..L−1, causal mask. */
    @Override
    public DecoderInput decoderInput(MultimodalInput input) {
        requirePrompt(input);
        if (input.imageGridThw() != null) {
            throw new IllegalArgumentException(config.modelType() + " takes no image_grid_thw (that is Qwen2.5-VL's input)");
        }
        INDArray features = input.hasImage() ? imageFeatures(input) : null;
        long[] ids = input.inputIds();
        int l = ids.length;
        boolean[] visual = new boolean[l];
        for (int i = 0; i < l; i++) visual[i] = isVisualToken(ids[i]);
        return new DecoderInput(inputsEmbeds(ids, features), RopeTables.forRange(config.textConfig(), 0, l), AttentionMask.causal(l, 0),
                DecoderInput.modality(visual));
    }

    /** The image tokens (one per patch after the processor's expansion) are visual, prompt or generated. */
    @Override
    public boolean isVisualToken(long id) {
        return id == config.imageTokenId();
    }

    @Override
    public LongFunction<RopeTables> stepRope(MultimodalInput input) {
        TextConfig text = config.textConfig();
        return p -> RopeTables.forRange(text, p, 1);
    }
}
