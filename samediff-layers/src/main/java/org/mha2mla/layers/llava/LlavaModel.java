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
import org.mha2mla.layers.text.BlockRunner;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.vision.LayerwiseClipVisionTower;
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

    protected final LlavaConfig config;
    private BlockRunner visionRunner;
    private LayerwiseClipVisionTower visionTower;
    private BlockRunner.Block projector;

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

    /**
     * CLIP tower and projector, one graph at a time over the stored weights, built on the first image. The tower runs
     * once per prompt, so its weights are released block by block and its float32 buffers after each call: nothing of
     * the vision side stays resident while the decoder runs (or streams).
     */
    private synchronized LayerwiseClipVisionTower visionTower() {
        if (visionTower == null) {
            visionRunner = new BlockRunner(weights(), LayerwiseDecoder.Residency.RELEASE);
            visionTower = new LayerwiseClipVisionTower(visionRunner, config.visionConfig(), VISION_TOWER, config.visionFeatureLayer(),
                    config.visionFeatureSelectStrategy());
            projector = LlavaProjector.block(visionRunner, config);
        }
        return visionTower;
    }

    /** Projected features [N, P, d] of N images or tiles [N, C, S, S]. */
    protected synchronized INDArray projectedFeatures(INDArray pixelValues) {
        LayerwiseClipVisionTower tower = visionTower();
        try {
            INDArray features = tower.features(pixelValues);
            return visionRunner.run(projector, Map.of(LlavaProjector.IN, features), LlavaProjector.OUT).get(LlavaProjector.OUT);
        } finally {
            visionRunner.close();
        }
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
