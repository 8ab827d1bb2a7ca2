package org.mha2mla.layers.generation;

/**
 * How a generation keeps its cache: stored as is (float32), stored quantized ({@link KvQuantization}), pruned to
 * a budget ({@link H2oPruning}, {@link TovaPruning}), or both. The {@link Generator} applies the policy to the static
 * cache after the prefill and after every decode step, to whatever tensors the layers' attentions declare (GQA's
 * key/value or MLA's latent tensors alike).
 *
 * <p>A prompt normally enters the cache in one prefill pass, whose own attention reads the exact keys and values:
 * the first generated token then never sees the stored (quantized or pruned) cache, so a one-word answer cannot
 * change under any policy. {@code textAfterImageThroughCache} instead prefills up to the last image token and
 * feeds the text after it token by token through the stored cache, as a follow-up question about an image already
 * in the cache would be: the answer is then computed from the compressed image context.
 *
 * <p>A policy and its parts are values, serializable so that an evaluation spread over machines ships it to them.
 *
 * @param quantization null to store float32
 * @param pruning      null to keep every token
 * @param textAfterImageThroughCache prefill only up to the prompt's last visual token, decode the rest through the cache
 */
public record CachePolicy(KvQuantization quantization, CachePruning pruning, boolean textAfterImageThroughCache)
        implements java.io.Serializable {

    /** The plain cache: every token, float32. */
    public static final CachePolicy FULL = new CachePolicy(null, null);

    /** The whole prompt in one prefill (transformers' {@code generate}). */
    public CachePolicy(KvQuantization quantization, CachePruning pruning) {
        this(quantization, pruning, false);
    }

    /** This policy with the text after the last image decoded through the stored cache. */
    public CachePolicy withTextAfterImageThroughCache() {
        return new CachePolicy(quantization, pruning, true);
    }

    public static CachePolicy quantized(KvQuantization quantization) {
        return new CachePolicy(quantization, null);
    }

    public static CachePolicy pruned(CachePruning pruning) {
        return new CachePolicy(null, pruning);
    }

    /** Whether the decoder passes must return their attention probabilities (pruning ranks tokens by them). */
    public boolean needsAttention() {
        return pruning != null;
    }

    /** A short label for logs and result files, e.g. {@code full}, {@code int4-g64-r128}, {@code h2o-0.5+int4-g64-r128}. */
    public String label() {
        String base;
        if (quantization == null && pruning == null) base = "full";
        else if (quantization == null) base = pruning.label();
        else if (pruning == null) base = quantization.label();
        else base = pruning.label() + "+" + quantization.label();
        return textAfterImageThroughCache ? base + "+text-through-cache" : base;
    }
}
