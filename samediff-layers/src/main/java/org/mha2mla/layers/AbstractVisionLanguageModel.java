package org.mha2mla.layers;

import java.util.HashSet;
import java.util.Set;
import java.util.function.Predicate;

import org.mha2mla.core.Limits;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.decode.DecodeStep;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generation;
import org.mha2mla.layers.mla.DecoderAttentions;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * What every family shares: the weights, the conversion, the text decoder over them (layer by layer, or as one
 * graph on demand), the merge of image features into the token embeddings, and greedy generation (layer-by-layer
 * prefill, then the eager {@link DecodeStep} over a static cache). A family adds its vision tower, its RoPE positions,
 * its key names and which tokens are visual.
 */
public abstract class AbstractVisionLanguageModel implements VisionLanguageModel {

    private final VlmConfig config;
    private final Mha2MlaConfig conversion;
    private final TensorSource weights;
    private final String decoderPrefix;
    private final String lmHeadKey;
    private final DecoderAttention.Factory attention;
    private final LayerwiseDecoder decoder;
    private TextDecoder graph;
    private DecodeStep decodeStep;

    /**
     * @param weights       every tensor under canonical (hub) keys; closed with the model
     * @param decoderPrefix key prefix of the decoder, e.g. {@code model.}
     * @param lmHeadKey     key of the lm_head weight
     */
    protected AbstractVisionLanguageModel(VlmConfig config, Mha2MlaConfig conversion, TensorSource weights,
                                          String decoderPrefix, String lmHeadKey) {
        this.config = config;
        this.conversion = conversion;
        this.weights = weights;
        this.decoderPrefix = decoderPrefix;
        TextConfig text = config.textConfig();
        this.lmHeadKey = text.tieWordEmbeddings() ? decoderPrefix + "embed_tokens.weight" : lmHeadKey;
        this.attention = DecoderAttentions.factory(text, decoderPrefix, conversion);
        this.decoder = new LayerwiseDecoder(weights, text, decoderPrefix, lmHeadKey, attention, LayerwiseDecoder.Residency.KEEP);
    }

    @Override
    public VlmConfig config() {
        return config;
    }

    @Override
    public Mha2MlaConfig conversion() {
        return conversion;
    }

    @Override
    public TensorSource weights() {
        return weights;
    }

    @Override
    public String decoderPrefix() {
        return decoderPrefix;
    }

    @Override
    public String lmHeadKey() {
        return lmHeadKey;
    }

    @Override
    public DecoderAttention.Factory attention() {
        return attention;
    }

    @Override
    public LayerwiseDecoder decoder() {
        return decoder;
    }

    @Override
    public LayerwiseDecoder streamingDecoder() {
        return new LayerwiseDecoder(weights, config.textConfig(), decoderPrefix, lmHeadKey, attention, LayerwiseDecoder.Residency.RELEASE);
    }

    @Override
    public synchronized TextDecoder graph() {
        if (graph == null) graph = newGraph();
        return graph;
    }

    @Override
    public TextDecoder newGraph() {
        TensorSource decoderWeights = TensorSource.subset(weights, k -> k.startsWith(decoderPrefix) || k.equals(lmHeadKey));
        SameDiff sd = Params.load(decoderWeights);
        return new TextDecoder(sd, config.textConfig(), decoderPrefix, lmHeadKey, i -> attention.create(sd, i));
    }

    /**
     * Refuses a prompt longer than the model's positions, or whose one-layer attention scores would not fit this
     * machine's memory, before anything runs (the families call it first in {@link #decoderInput}).
     */
    protected final void requirePrompt(MultimodalInput input) {
        TextConfig text = config.textConfig();
        Limits.requireSequence("the prompt", input.length(), text.maxPositionEmbeddings());
        Limits.requireAttentionMemory("the prompt", 1, text.numAttentionHeads(), input.length());
    }

    /**
     * inputs_embeds [1, L, d]: token embeddings with the rows of {@code imageFeatures} [n, d] written over the image
     * tokens in order (transformers' masked_scatter); the counts must agree.
     */
    protected final INDArray inputsEmbeds(long[] ids, INDArray imageFeatures) {
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

    @Override
    public synchronized DecodeStep decodeStep() {
        if (decodeStep == null) decodeStep = DecodeStep.of(decoder, conversion);
        return decodeStep;
    }

    /** Prefill layer by layer, then the eager decode step over the static cache ({@link org.mha2mla.layers.generation.Generator}). */
    @Override
    public Generation generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos, CachePolicy policy,
                               Predicate<long[]> stopWhen) {
        Limits.requireGeneration("max new tokens", input.length(), maxNewTokens, config.textConfig().maxPositionEmbeddings());
        Set<Integer> eos = new HashSet<>(config.textConfig().eosTokenIds());
        return generator(input, policy).run(decoderInput(input), maxNewTokens, eos, stopAtEos, stopWhen);
    }

    @Override
    public long kvCacheBytesPerToken() {
        long values = 0;
        for (int i = 0; i < decoder.numLayers(); i++) {
            for (DecoderAttention.CacheTensor c : decoder.cacheTensors(i)) values += c.valuesPerToken();
        }
        return values * Float.BYTES;
    }

    @Override
    public void close() {
        decoder.close();
        weights.close();
    }

    /** Whether the model has the tensor (optional biases, image_newline). */
    protected final boolean has(String key) {
        return weights.contains(key);
    }

    @Override
    public String toString() {
        return config.modelType() + (conversion == null ? "" : " (" + conversion + ")") + " over " + weights.description();
    }
}
