package org.mha2mla.layers.qwen25vl;

import java.util.function.LongFunction;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.MRope;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.AbstractVisionLanguageModel;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.BlockRunner;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.RopeTables;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Qwen2_5_VLForConditionalGeneration: the vision tower's merged features written over the
 * {@code <|image_pad|>} tokens (already expanded by the processor, one per 2×2 unit) → Qwen2 decoder (GQA,
 * q/k/v bias) with M-RoPE → lm_head. M-RoPE is only a different cos/sin table: positions come from
 * {@link MRope#positionIds} (transformers' get_rope_index) and each frequency pair takes its angle from the
 * axis its mrope_section assigns it; decode steps continue at cache position + rope_delta on all three axes.
 */
public final class Qwen25VlModel extends AbstractVisionLanguageModel {

    static final String VISION_PREFIX = "visual.";
    static final String LANGUAGE_MODEL = "model.";
    static final String LM_HEAD = "lm_head.weight";

    private final Qwen25VlConfig config;
    private BlockRunner visionRunner;
    private LayerwiseQwen25VlVisionTower tower;

    /**
     * A model over {@code weights} (canonical hub keys: {@code model.layers.N…}, {@code visual.…}); its decoder's
     * attention follows {@code conversion} (partial RoPE or MLA; null: the original GQA).
     */
    public Qwen25VlModel(Qwen25VlConfig config, Mha2MlaConfig conversion, TensorSource weights) {
        super(config, conversion, weights, LANGUAGE_MODEL, LM_HEAD);
        this.config = config;
    }

    @Override
    public Qwen25VlConfig config() {
        return config;
    }

    @Override
    public Qwen25VlModel with(Mha2MlaConfig conversion, TensorSource weights) {
        return new Qwen25VlModel(config, conversion, weights);
    }

    /**
     * The vision tower, one block graph at a time over the stored {@code visual.} weights, built on the first image.
     * It runs once per prompt, so its weights are released block by block and its float32 buffers after each call:
     * nothing of the vision side stays resident while the decoder runs (or streams).
     */
    public synchronized LayerwiseQwen25VlVisionTower visionTower() {
        if (tower == null) {
            visionRunner = new BlockRunner(weights(), LayerwiseDecoder.Residency.RELEASE);
            tower = new LayerwiseQwen25VlVisionTower(visionRunner, config.visionConfig(), VISION_PREFIX);
        }
        return tower;
    }

    /** Vision tower output [Σ t·h·w / merge², hidden]: the rows that replace the image tokens, in order. */
    public synchronized INDArray imageFeatures(INDArray pixelValues, int[][] imageGridThw) {
        LayerwiseQwen25VlVisionTower t = visionTower();
        try {
            return t.forward(pixelValues, imageGridThw);
        } finally {
            visionRunner.close();
        }
    }

    /** 3-D position ids [3][L] and rope_delta of a prompt (get_rope_index). */
    public MRope.RopeIndex ropeIndex(MultimodalInput input) {
        int[] ids = new int[input.length()];
        for (int i = 0; i < ids.length; i++) ids[i] = Math.toIntExact(input.inputIds()[i]);
        return MRope.positionIds(ids, input.imageGridThw(), config.visionConfig().spatialMergeSize(),
                config.imageTokenId(), config.visionStartTokenId());
    }

    @Override
    public DecoderInput decoderInput(MultimodalInput input) {
        requirePrompt(input);
        if (input.imageSizes() != null) {
            throw new IllegalArgumentException("qwen2_5_vl takes image_grid_thw, not image_sizes (LLaVA-NeXT's input)");
        }
        if (input.hasImage() && input.imageGridThw() == null) {
            throw new IllegalArgumentException("qwen2_5_vl: pixel_values given without image_grid_thw");
        }
        INDArray features = input.hasImage() ? imageFeatures(input.pixelValues(), input.imageGridThw()) : null;
        INDArray embeds = inputsEmbeds(input.inputIds(), features);
        int l = input.length();
        return new DecoderInput(embeds, tables(ropeIndex(input).positionIds()), AttentionMask.causal(l, 0), modality(input.inputIds()));
    }

    /**
     * transformers' decode steps use position cache_position + rope_delta on all three axes (the prompt's M-RoPE
     * positions end at max + 1 = L + rope_delta); after pruning, steps still continue at the true sequence position.
     */
    @Override
    public LongFunction<RopeTables> stepRope(MultimodalInput input) {
        MRope.RopeIndex rope = ropeIndex(input);
        return p -> tables(rope.decodePositions(p, 1));
    }

    /**
     * The image pads and, as MHA2MLA-VLM counts them, the vision start/end marks are visual — in the prompt and when
     * generated (the authors route a generated {@code <|vision_start|>} through the visual factors too).
     */
    @Override
    public boolean isVisualToken(long id) {
        return isVisualToken(config, id);
    }

    /** {@link #isVisualToken(long)} for a config alone (the pretraining graph has no model). */
    public static boolean isVisualToken(Qwen25VlConfig config, long id) {
        return id == config.imageTokenId() || id == config.visionStartTokenId() || id == config.visionEndTokenId();
    }

    /** Modality [1, L] of a prompt's tokens ({@link #isVisualToken}). */
    INDArray modality(long[] ids) {
        boolean[] visual = new boolean[ids.length];
        for (int i = 0; i < ids.length; i++) visual[i] = isVisualToken(ids[i]);
        return DecoderInput.modality(visual);
    }

    /** M-RoPE cos/sin for positions [3][n], shaped [1, 1, n, d_h] for the decoder's placeholders. */
    RopeTables tables(long[][] positionIds) {
        TextConfig text = config.textConfig();
        CosSin cs = MRope.cosSin(positionIds, text.headDim(), text.ropeTheta(), text.mropeSection());
        long[] shape = {1, 1, cs.length(), text.headDim()};
        return new RopeTables(cs.cos().reshape(shape), cs.sin().reshape(shape));
    }
}
