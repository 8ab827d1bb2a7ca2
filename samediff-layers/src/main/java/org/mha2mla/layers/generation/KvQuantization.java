package org.mha2mla.layers.generation;

import org.mha2mla.core.kv.KvQuantizer;
import org.mha2mla.layers.text.DecoderAttention.CacheTensor;

/**
 * Quantized cache storage, per-group asymmetric as quanto/HQQ do for transformers' QuantizedCache: every cached
 * token's values (the axes of the tensor other than the sequence axis, in C order) are cut into groups of
 * {@code groupSize} consecutive values, each stored as 2/4/8-bit codes with an fp16 scale and zero point (core's
 * {@link KvQuantizer}). The cache holds the codes; attention reads them dequantized, a tile of tokens at a time.
 *
 * <p>Like transformers' QuantizedCache (the KIVI scheme), the prompt is quantized right after the prefill (whose
 * own attention used full precision), and decoded tokens wait in a full-precision residual until it would reach
 * {@code residualLength} tokens; then all of them are quantized and the residual empties. So at most
 * {@code residualLength − 1} recent tokens are full precision; 0 or 1 quantizes every token at once. Groups here
 * are per token (along the feature axis), so quantizing the residual alone is the same as transformers'
 * re-quantization of the whole cache at a flush, and tokens can be evicted without touching other tokens' groups.
 *
 * @param bits           2, 4 or 8
 * @param groupSize      values per group; a token row with fewer values is one group
 * @param residualLength HF's {@code residual_length} (default 128)
 */
public record KvQuantization(int bits, int groupSize, int residualLength) implements java.io.Serializable {

    /** transformers' QuantizedCacheConfig defaults: q_group_size 64, residual_length 128. */
    public static final int DEFAULT_GROUP_SIZE = 64;
    public static final int DEFAULT_RESIDUAL_LENGTH = 128;

    public KvQuantization {
        if (bits != 2 && bits != 4 && bits != 8) {
            throw new IllegalArgumentException("KV quantization supports int2, int4 and int8, got " + bits + " bits");
        }
        if (groupSize <= 0) throw new IllegalArgumentException("quantization group size must be positive, got " + groupSize);
        if (residualLength < 0) throw new IllegalArgumentException("residual length must be ≥ 0, got " + residualLength);
    }

    /** {@code bits} with transformers' default group size and residual length. */
    public static KvQuantization of(int bits) {
        return new KvQuantization(bits, DEFAULT_GROUP_SIZE, DEFAULT_RESIDUAL_LENGTH);
    }

    /** The group size for one tensor: {@link #groupSize} or the token row when that is smaller; must divide the row. */
    public int groupSizeFor(CacheTensor tensor) {
        long row = tensor.valuesPerToken();
        int g = (int) Math.min(groupSize, row);
        if (row % g != 0) {
            throw new IllegalArgumentException("cache tensor '" + tensor.name() + "' holds " + row + " values per token, "
                    + "not a multiple of the quantization group size " + g + "; choose a group size that divides " + row);
        }
        return g;
    }

    /** Bytes one token of {@code tensor} costs once quantized: packed codes + fp16 scale and zero point per group. */
    public long bytesPerToken(CacheTensor tensor) {
        return KvQuantizer.bytes(tensor.valuesPerToken(), bits, groupSizeFor(tensor));
    }

    public String label() {
        return "int" + bits + "-g" + groupSize + "-r" + residualLength;
    }
}
