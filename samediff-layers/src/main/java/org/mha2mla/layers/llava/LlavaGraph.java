package org.mha2mla.layers.llava;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.MultimodalInput;
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
import org.mha2mla.layers.vision.ClipVisionTower;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * What LLaVA-1.5 and LLaVA-NeXT share (modeling_llava.py / modeling_llava_next.py): the CLIP tower, the
 * projector (output {@link #IMAGE_FEATURES} [N, P, d] per image or tile), the Llama decoder with lm_head,
 * and the merge that puts image features where the prompt has image tokens, in order.
 */
final class LlavaGraph {

    static final String LANGUAGE_MODEL = "language_model.model.";
    static final String LM_HEAD = "language_model.lm_head.weight";
    /** Canonical (hub) prefix of the CLIP transformer; KeyLayout adds vision_model for files that lack it. */
    static final String VISION_TOWER = "vision_tower.vision_model.";
    static final String IMAGE_FEATURES = "image_features";

    final LlavaConfig config;
    final Mha2MlaConfig conversion;
    final SameDiff sd;
    final ClipVisionTower tower;
    final TextDecoder decoder;
    final GreedyGenerator generator;

    /**
     * Builds the graph over {@code sd}, whose variables are the checkpoint's tensors under canonical (hub) keys; the
     * decoder's attention follows {@code conversion} (null: the original GQA).
     */
    LlavaGraph(LlavaConfig config, Mha2MlaConfig conversion, SameDiff sd) {
        this.config = config;
        this.conversion = conversion;
        this.sd = sd;
        this.tower = new ClipVisionTower(sd, config.visionConfig(), VISION_TOWER,
                config.visionFeatureLayer(), config.visionFeatureSelectStrategy());
        new LlavaProjector(sd, config).forward(IMAGE_FEATURES, sd.getVariable(ClipVisionTower.FEATURES));
        TextConfig text = config.textConfig();
        this.decoder = new TextDecoder(sd, text, LANGUAGE_MODEL, LM_HEAD, DecoderAttentions.of(sd, text, LANGUAGE_MODEL, conversion));
        this.generator = new GreedyGenerator(decoder, p -> RopeTables.forRange(text, p, 1));
    }

    /** Projected features [N, P, d] of N images or tiles [N, C, S, S]. */
    INDArray projectedFeatures(INDArray pixelValues) {
        long s = config.visionConfig().imageSize();
        if (pixelValues.rank() != 4 || pixelValues.size(1) != config.visionConfig().numChannels()
                || pixelValues.size(2) != s || pixelValues.size(3) != s) {
            throw new IllegalArgumentException("pixel_values must be [N, " + config.visionConfig().numChannels() + ", "
                    + s + ", " + s + "], got " + java.util.Arrays.toString(pixelValues.shape()));
        }
        // A fresh c-order float copy: views (offsets, strides) fed as placeholders are not read correctly.
        INDArray pixels = pixelValues.castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).dup('c');
        return sd.output(Map.of(ClipVisionTower.PIXEL_VALUES, pixels), IMAGE_FEATURES).get(IMAGE_FEATURES);
    }

    /**
     * inputs_embeds [1, L, d]: token embeddings with the rows of {@code imageFeatures} [n, d] written over the
     * image tokens in order (transformers' masked_scatter). The counts must agree.
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

    /** One unpadded prompt at positions 0..L−1 with a causal mask; the image tokens are its visual tokens. */
    DecoderInput decoderInput(long[] ids, INDArray embeds) {
        int l = (int) embeds.size(1);
        boolean[] visual = new boolean[l];
        for (int i = 0; i < l; i++) visual[i] = ids[i] == config.imageTokenId();
        return new DecoderInput(embeds, RopeTables.forRange(config.textConfig(), 0, l), AttentionMask.causal(l, 0),
                DecoderInput.modality(visual));
    }

    INDArray logits(DecoderInput in) {
        INDArray logits = decoder.logits(in);
        return logits.reshape(logits.size(1), logits.size(2));
    }

    INDArray hiddenStates(DecoderInput in) {
        INDArray h = decoder.hiddenStates(in);
        return h.reshape(h.size(0), h.size(2), h.size(3));
    }

    long[] generate(DecoderInput in, int maxNewTokens, boolean stopAtEos) {
        Set<Integer> eos = new HashSet<>(config.textConfig().eosTokenIds());
        return generator.generate(in, maxNewTokens, eos, stopAtEos);
    }

    Generation generate(DecoderInput in, int maxNewTokens, boolean stopAtEos, CachePolicy policy, Predicate<long[]> stopWhen) {
        Set<Integer> eos = new HashSet<>(config.textConfig().eosTokenIds());
        return generator.withPolicy(policy).run(in, maxNewTokens, eos, stopAtEos, stopWhen);
    }

    long kvCacheBytesPerToken() {
        return KvCache.bytesPerToken(decoder);
    }

    /** Reads a Hugging Face folder's weights under canonical names (either transformers key layout). */
    static SameDiff loadWeights(java.nio.file.Path dir, LlavaConfig config) {
        try (TensorSource weights = Checkpoint.open(dir)) {
            return Params.load(KeyLayout.canonical(weights, config.modelType()));
        }
    }

    static void requireNoGridInputs(MultimodalInput input, String model) {
        if (input.imageGridThw() != null) {
            throw new IllegalArgumentException(model + " takes no image_grid_thw (that is Qwen2.5-VL's input)");
        }
    }
}
