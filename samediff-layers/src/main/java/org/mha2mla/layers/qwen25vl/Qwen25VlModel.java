package org.mha2mla.layers.qwen25vl;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Predicate;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.MRope;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generation;
import org.mha2mla.layers.generation.GreedyGenerator;
import org.mha2mla.layers.generation.KvCache;
import org.mha2mla.layers.mla.DecoderAttentions;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.RopeTables;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Qwen2_5_VLForConditionalGeneration: the vision tower's merged features written over the
 * {@code <|image_pad|>} tokens (already expanded by the processor, one per 2×2 unit) → Qwen2 decoder (GQA,
 * q/k/v bias) with M-RoPE → lm_head. M-RoPE is only a different cos/sin table: positions come from
 * {@link MRope#positionIds} (transformers' get_rope_index) and each frequency pair takes its angle from the
 * axis its mrope_section assigns it; decode steps continue at cache position + rope_delta on all three axes.
 */
public final class Qwen25VlModel implements VisionLanguageModel {

    static final String VISION_PREFIX = "visual.";
    static final String LANGUAGE_MODEL = "model.";
    static final String LM_HEAD = "lm_head.weight";
    static final String VISION_SCOPE = "qwen_vision";

    private final Qwen25VlConfig config;
    private final Mha2MlaConfig conversion;
    private final SameDiff sd;
    private final Qwen25VlVisionTower tower;
    private final TextDecoder decoder;

    /** Builds the model over a graph whose variables are the checkpoint tensors under hub keys. */
    public Qwen25VlModel(Qwen25VlConfig config, SameDiff weights) {
        this(config, null, weights);
    }

    /** A converted model: the decoder's attention follows {@code conversion} (partial RoPE or MLA; null: original). */
    public Qwen25VlModel(Qwen25VlConfig config, Mha2MlaConfig conversion, SameDiff weights) {
        this.config = config;
        this.conversion = conversion;
        this.sd = weights;
        this.tower = new Qwen25VlVisionTower(weights, config.visionConfig(), VISION_PREFIX, VISION_SCOPE);
        this.decoder = new TextDecoder(weights, config.textConfig(), LANGUAGE_MODEL, LM_HEAD,
                DecoderAttentions.of(weights, config.textConfig(), LANGUAGE_MODEL, conversion));
    }

    /**
     * Loads a Hugging Face folder (config.json + model.safetensors or a sharded index) — an original model or one
     * converted by this project (its config's {@code mha2mla} section says how) — in the hub's key layout
     * ({@code model.layers.N…}, {@code visual.…}) or the newer one ({@code model.language_model…}, {@code model.visual…}).
     */
    public static Qwen25VlModel load(Path dir) {
        VlmConfig config = HfConfigParser.read(dir);
        if (!(config instanceof Qwen25VlConfig qwen)) {
            throw new IllegalArgumentException(dir + "/config.json: model_type " + config.modelType() + " is not qwen2_5_vl");
        }
        try (TensorSource weights = Checkpoint.open(dir)) {
            return new Qwen25VlModel(qwen, HfConfigParser.readConversion(dir), Params.load(KeyLayout.canonical(weights, qwen.modelType())));
        }
    }

    @Override
    public Qwen25VlConfig config() {
        return config;
    }

    @Override
    public Mha2MlaConfig conversion() {
        return conversion;
    }

    /** Vision tower output [Σ t·h·w / merge², hidden]: the rows that replace the image tokens, in order. */
    public INDArray imageFeatures(INDArray pixelValues, int[][] imageGridThw) {
        return tower.forward(pixelValues, imageGridThw);
    }

    /** 3-D position ids [3][L] and rope_delta of a prompt (get_rope_index). */
    public MRope.RopeIndex ropeIndex(MultimodalInput input) {
        int[] ids = new int[input.length()];
        for (int i = 0; i < ids.length; i++) ids[i] = Math.toIntExact(input.inputIds()[i]);
        return MRope.positionIds(ids, input.imageGridThw(), config.visionConfig().spatialMergeSize(),
                config.imageTokenId(), config.visionStartTokenId());
    }

    /** The decoder input for one prompt: embeddings with image features merged, M-RoPE tables, causal mask. */
    public DecoderInput decoderInput(MultimodalInput input) {
        return decoderInput(input, ropeIndex(input));
    }

    private DecoderInput decoderInput(MultimodalInput input, MRope.RopeIndex rope) {
        if (input.imageSizes() != null) {
            throw new IllegalArgumentException("qwen2_5_vl takes image_grid_thw, not image_sizes (LLaVA-NeXT's input)");
        }
        if (input.hasImage() && input.imageGridThw() == null) {
            throw new IllegalArgumentException("qwen2_5_vl: pixel_values given without image_grid_thw");
        }
        INDArray features = input.hasImage() ? imageFeatures(input.pixelValues(), input.imageGridThw()) : null;
        INDArray embeds = inputsEmbeds(input.inputIds(), features);
        int l = input.length();
        return new DecoderInput(embeds, tables(rope.positionIds()), AttentionMask.causal(l, 0), modality(input.inputIds()));
    }

    /** Modality [1, L]: the image pads and, as MHA2MLA-VLM counts them, the vision start/end marks are visual. */
    INDArray modality(long[] ids) {
        boolean[] visual = new boolean[ids.length];
        for (int i = 0; i < ids.length; i++) {
            visual[i] = ids[i] == config.imageTokenId() || ids[i] == config.visionStartTokenId()
                    || ids[i] == config.visionEndTokenId();
        }
        return DecoderInput.modality(visual);
    }

    /**
     * inputs_embeds [1, L, d]: token embeddings with the rows of {@code imageFeatures} written over the image
     * tokens in order (transformers' masked_scatter); the counts must agree.
     */
    INDArray inputsEmbeds(long[] ids, INDArray imageFeatures) {
        INDArray embeds = decoder.embed(ids);
        int imageToken = config.imageTokenId();
        long count = 0;
        for (long id : ids) if (id == imageToken) count++;
        long available = imageFeatures == null ? 0 : imageFeatures.size(0);
        if (count != available) {
            throw new IllegalArgumentException("Image features and image tokens do not match: tokens: " + count
                    + ", features " + available + " (image token id " + imageToken + ")");
        }
        int row = 0;
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == imageToken) {
                embeds.get(NDArrayIndex.point(0), NDArrayIndex.point(i), NDArrayIndex.all()).assign(imageFeatures.getRow(row++));
            }
        }
        return embeds;
    }

    /** M-RoPE cos/sin for positions [3][n], shaped [1, 1, n, d_h] for the decoder's placeholders. */
    RopeTables tables(long[][] positionIds) {
        TextConfig text = config.textConfig();
        CosSin cs = MRope.cosSin(positionIds, text.headDim(), text.ropeTheta(), text.mropeSection());
        long[] shape = {1, 1, cs.length(), text.headDim()};
        return new RopeTables(cs.cos().reshape(shape), cs.sin().reshape(shape));
    }

    @Override
    public INDArray logits(MultimodalInput input) {
        INDArray logits = decoder.logits(decoderInput(input));
        return logits.reshape(logits.size(1), logits.size(2));
    }

    @Override
    public INDArray hiddenStates(MultimodalInput input) {
        INDArray h = decoder.hiddenStates(decoderInput(input));
        return h.reshape(h.size(0), h.size(2), h.size(3));
    }

    /**
     * Greedy decoding with the KV cache. transformers' decode steps use position cache_position + rope_delta
     * on all three axes (the prompt's M-RoPE positions end at max + 1 = L + rope_delta).
     */
    @Override
    public long[] generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos) {
        return generate(input, maxNewTokens, stopAtEos, CachePolicy.FULL, ids -> false).tokens();
    }

    /** As above; after pruning, step positions still continue at the true sequence position (+ rope_delta). */
    @Override
    public Generation generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos, CachePolicy policy,
                               Predicate<long[]> stopWhen) {
        MRope.RopeIndex rope = ropeIndex(input);
        GreedyGenerator generator = new GreedyGenerator(decoder, p -> tables(rope.decodePositions(p, 1)), policy);
        Set<Integer> eos = new HashSet<>(config.textConfig().eosTokenIds());
        return generator.run(decoderInput(input, rope), maxNewTokens, eos, stopAtEos, stopWhen);
    }

    @Override
    public long kvCacheBytesPerToken() {
        return KvCache.bytesPerToken(decoder);
    }

    public Qwen25VlVisionTower visionTower() {
        return tower;
    }

    public TextDecoder decoder() {
        return decoder;
    }

    /** The graph holding every weight as a variable named with its hub key. */
    public SameDiff sameDiff() {
        return sd;
    }
}
