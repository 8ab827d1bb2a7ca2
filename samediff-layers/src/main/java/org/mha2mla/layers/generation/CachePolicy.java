package org.mha2mla.layers.generation;

/**
 * How a generation keeps its cache: stored as is (float32), stored quantized ({@link KvQuantization}), pruned to
 * a budget ({@link H2oPruning}, {@link TovaPruning}), or both. The policy is applied by {@link KvCache} after the
 * prefill and after every decode step, to whatever tensors the layers' attentions declare (GQA's key/value or
 * MLA's latent tensors alike).
 *
 * @param quantization null to store float32
 * @param pruning      null to keep every token
 */
public record CachePolicy(KvQuantization quantization, CachePruning pruning) {

    /** The plain cache: every token, float32. */
    public static final CachePolicy FULL = new CachePolicy(null, null);

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
        if (quantization == null && pruning == null) return "full";
        if (quantization == null) return pruning.label();
        if (pruning == null) return quantization.label();
        return pruning.label() + "+" + quantization.label();
    }
}
