package org.mha2mla.layers;

import java.util.function.LongFunction;
import java.util.function.Predicate;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.decode.DecodeStep;
import org.mha2mla.layers.generation.Generation;
import org.mha2mla.layers.generation.Generator;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.RopeTables;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A vision-language model over a Hugging Face folder's weights: LLaVA-1.5, LLaVA-NeXT or Qwen2.5-VL, with its
 * original attention or converted to partial RoPE / MLA. Every family implements the same steps, in transformers'
 * order: the vision tower and projector turn images into features, {@link #decoderInput} writes them over the image
 * tokens and adds the family's RoPE positions and each token's modality, and the text decoder ({@link #decoder()},
 * shared by all families) does the rest. The CLI, the evaluation harness, the converter and the trainer all go
 * through this interface; {@link Families} maps a config's {@code model_type} to the family.
 *
 * <p>The weights stay where {@link #weights()} has them (a mapped checkpoint in its stored dtype, or arrays computed
 * in this process); {@link #decoder()} runs one layer at a time, so a 7B model runs in the memory of its file plus
 * one layer. {@link #graph()} builds the whole decoder as one SameDiff graph over float32 copies of its weights, for
 * training small models and as the reference the layer-at-a-time path is tested against.
 */
public interface VisionLanguageModel extends AutoCloseable {

    VlmConfig config();

    /** The conversion its config.json records ({@code "mha2mla"} section), or null for an original model. */
    Mha2MlaConfig conversion();

    /** Every tensor of the model under canonical (hub) keys. */
    TensorSource weights();

    /** Key prefix of the decoder (LlamaModel / Qwen2Model), e.g. {@code language_model.model.} or {@code model.}. */
    String decoderPrefix();

    /** Key of the lm_head weight (the embedding table's when the config ties them). */
    String lmHeadKey();

    /** Builds layer i's attention as the conversion says (original GQA, partial RoPE or MLA). */
    DecoderAttention.Factory attention();

    /** The text decoder, one layer at a time over {@link #weights()}, keeping mapped weights open between passes. */
    LayerwiseDecoder decoder();

    /** A decoder of its own for one pass over a model larger than memory: each layer's weights are released after use. */
    LayerwiseDecoder streamingDecoder();

    /** The whole decoder as one SameDiff graph over float32 copies of its weights, built on first use. */
    TextDecoder graph();

    /**
     * Another whole-decoder graph like {@link #graph()}, over float32 copies of its own and not kept by the model: for
     * data-parallel replicas of a training graph (the caller owns it).
     */
    TextDecoder newGraph();

    /**
     * One processed prompt as decoder input: token embeddings with the image features written over the image tokens,
     * the family's RoPE tables (1-D, or M-RoPE positions for Qwen2.5-VL), a causal mask and each token's modality.
     */
    DecoderInput decoderInput(MultimodalInput input);

    /** The RoPE tables [1, 1, 1, d_h] of the token generated at sequence position p after {@code input}. */
    LongFunction<RopeTables> stepRope(MultimodalInput input);

    /**
     * Whether token {@code id} is visual: the family's one rule for every token's modality, prompt or generated
     * ({@link #decoderInput} and generation both use it), which MLA's per-modality factors follow.
     */
    boolean isVisualToken(long id);

    /** The eager decode step over this model's decoder weights, built on first use. */
    DecodeStep decodeStep();

    /** Greedy generation after {@code input} (its RoPE positions and the model's token modalities) with a cache policy. */
    default Generator generator(MultimodalInput input, CachePolicy policy) {
        return new Generator(decodeStep(), stepRope(input), this::isVisualToken, policy);
    }

    /** The same architecture over {@code weights} with the attention {@code conversion} describes (null: original). */
    VisionLanguageModel with(Mha2MlaConfig conversion, TensorSource weights);

    /** Full-sequence logits [L, vocab] in float32 of a single prompt. */
    default INDArray logits(MultimodalInput input) {
        INDArray logits = decoder().logits(decoderInput(input));
        return logits.reshape(logits.size(1), logits.size(2));
    }

    /**
     * Hidden states [layers + 1, L, hidden]: the embedding output (image features merged in), then every decoder
     * layer's output, the last one after the final norm (transformers' output_hidden_states).
     */
    default INDArray hiddenStates(MultimodalInput input) {
        INDArray h = decoder().hiddenStates(decoderInput(input));
        return h.reshape(h.size(0), h.size(2), h.size(3));
    }

    /** Greedy decoding with a KV cache: prefill once, then one token per step; stops at EOS or maxNewTokens. */
    default long[] generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos) {
        return generate(input, maxNewTokens, stopAtEos, CachePolicy.FULL, ids -> false).tokens();
    }

    /**
     * Greedy decoding whose cache follows {@code policy} (quantized storage, H2O/TOVA pruning; the model's own
     * cache tensors, latent ones for MLA), also stopping once {@code stopWhen} holds for the new tokens so far;
     * returns the new tokens and what the cache held at the end.
     */
    Generation generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos, CachePolicy policy,
                        Predicate<long[]> stopWhen);

    /** KV-cache bytes one token costs over all layers with this model's cache at float32 storage. */
    long kvCacheBytesPerToken();

    /** Releases the mapped weights and any graph built. */
    @Override
    void close();
}
