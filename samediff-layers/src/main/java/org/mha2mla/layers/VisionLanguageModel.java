package org.mha2mla.layers;

import java.util.function.Predicate;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generation;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A vision-language model built as SameDiff graphs from a Hugging Face folder: LLaVA-1.5, LLaVA-NeXT
 * or Qwen2.5-VL, with its original attention or converted to MLA. The CLI's parity, generate and
 * eval commands, the trainer and the converter all go through this interface.
 */
public interface VisionLanguageModel extends AutoCloseable {

    VlmConfig config();

    /** The conversion its config.json records ({@code "mha2mla"} section), or null for an original model. */
    default Mha2MlaConfig conversion() {
        return null;
    }

    /** Full-sequence forward pass: logits [L, vocab] in float32 for a single prompt. */
    INDArray logits(MultimodalInput input);

    /**
     * Hidden states [layers + 1, L, hidden]: the embedding output (image features merged in), then every
     * decoder layer's output, the last one after the final norm (transformers' output_hidden_states).
     */
    INDArray hiddenStates(MultimodalInput input);

    /** Greedy decoding with a KV cache: prefill once, then one token per step; stops at EOS or maxNewTokens. */
    long[] generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos);

    /**
     * Greedy decoding whose cache follows {@code policy} (quantized storage, H2O/TOVA pruning; the model's own
     * cache tensors, latent ones for MLA), also stopping once {@code stopWhen} holds for the new tokens so far;
     * returns the new tokens and what the cache held at the end.
     */
    Generation generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos, CachePolicy policy,
                        Predicate<long[]> stopWhen);

    /** KV-cache bytes one token costs over all layers with this model's cache at float32 storage. */
    long kvCacheBytesPerToken();

    @Override
    default void close() {
    }
}
