package org.mha2mla.core.kv;

/**
 * KV-cache size per token: the original cache (keys and values of every KV head), the MLA cache (latent
 * c_kv plus rotated k_rope per KV head), and the reductions against the model's real cache and against
 * the MHA-equivalent cache 2·n_h·d_h that the paper's Table 1 uses as its reference.
 */
public final class KvCacheAccounting {

    /** Bytes of the modality tag each cached token carries in a modality-decoupled cache (per token, all layers). */
    public static final int MODALITY_TAG_BYTES = 1;

    private KvCacheAccounting() {
    }

    /** Values per token per layer of the original cache: 2 · n_kv · d_h. */
    public static long originalValues(int kvHeads, int headDim) {
        positive(kvHeads, "n_kv");
        positive(headDim, "d_h");
        return 2L * kvHeads * headDim;
    }

    /** Values per token per layer of the MHA-equivalent cache: 2 · n_h · d_h. */
    public static long mhaEquivalentValues(int numHeads, int headDim) {
        positive(numHeads, "n_h");
        positive(headDim, "d_h");
        return 2L * numHeads * headDim;
    }

    /** Values per token per layer of the MLA cache: n_kv · (d_kv + d_r). */
    public static long mlaValues(int kvHeads, int dKv, int dRope) {
        positive(kvHeads, "n_kv");
        if (dKv < 0 || dRope < 0 || dKv + dRope == 0) {
            throw new IllegalArgumentException("d_kv = " + dKv + " and d_r = " + dRope + " must be ≥ 0 and not both 0");
        }
        return (long) kvHeads * (dKv + dRope);
    }

    /** 100 · (values − reference) / reference: negative when the cache shrinks (−94.64 means 94.64% smaller). */
    public static double reductionPercent(long values, long reference) {
        positive(reference, "reference");
        return 100.0 * (values - reference) / reference;
    }

    /**
     * The full per-token comparison of a model.
     *
     * @param bytesPerValue   2 for fp16/bf16 caches
     * @param decoupled       modality-decoupled MLA (adds {@link #MODALITY_TAG_BYTES} per token, reported apart)
     */
    public static Report report(int layers, int numHeads, int kvHeads, int headDim, int dKv, int dRope,
                                int bytesPerValue, boolean decoupled) {
        positive(layers, "layers");
        positive(bytesPerValue, "bytes per value");
        if (numHeads % kvHeads != 0) {
            throw new IllegalArgumentException("n_h = " + numHeads + " is not a multiple of n_kv = " + kvHeads);
        }
        long original = originalValues(kvHeads, headDim);
        long mha = mhaEquivalentValues(numHeads, headDim);
        long mla = mlaValues(kvHeads, dKv, dRope);
        return new Report(layers, original, mha, mla,
                reductionPercent(mla, original), reductionPercent(mla, mha),
                original * layers * bytesPerValue, mla * layers * bytesPerValue,
                decoupled ? MODALITY_TAG_BYTES : 0);
    }

    /**
     * Per-token cache sizes of one model.
     *
     * @param originalValuesPerLayer       2 · n_kv · d_h
     * @param mhaEquivalentValuesPerLayer  2 · n_h · d_h
     * @param mlaValuesPerLayer            n_kv · (d_kv + d_r)
     * @param reductionVsOriginal          percent, negative = smaller
     * @param reductionVsMhaEquivalent     percent (the paper's Table 1 figure)
     * @param originalBytesPerToken        all layers
     * @param mlaBytesPerToken             all layers, without the modality tag
     * @param modalityTagBytesPerToken     1 for modality-decoupled caches, else 0
     */
    public record Report(int layers, long originalValuesPerLayer, long mhaEquivalentValuesPerLayer,
                         long mlaValuesPerLayer, double reductionVsOriginal, double reductionVsMhaEquivalent,
                         long originalBytesPerToken, long mlaBytesPerToken, int modalityTagBytesPerToken) {
    }

    private static void positive(long v, String name) {
        if (v <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + v);
        }
    }
}
