package org.mha2mla.core.rope;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * 1-D rotary position embedding as Hugging Face Llama / Qwen2 compute it (default rope type, no scaling).
 *
 * <p>θ_k = base^(−2k/d_h) for pair k = dims {k, k + d_h/2} (the {@code rotate_half} layout). Tables are
 * computed in float32 exactly the way {@code LlamaRotaryEmbedding} does (float32 inverse frequencies,
 * float32 product position·θ_k, then cos/sin), because at positions in the thousands the float32
 * rounding of the angle (ulp(4000) ≈ 2.4e-4 rad) is larger than the 1e-4 parity tolerance: computing
 * the angle in float64 would be "more exact" and yet disagree with the reference model.
 */
public final class Rope {

    private Rope() {
    }

    /** Inverse frequencies θ_k, k = 0 … d_h/2 − 1, float32 as transformers computes them. */
    public static float[] invFreq(int headDim, double base) {
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim must be positive and even for rotary embeddings, got " + headDim);
        }
        if (!(base > 0)) {
            throw new IllegalArgumentException("rope_theta must be positive, got " + base);
        }
        float[] inv = new float[headDim / 2];
        float baseF = (float) base;
        for (int k = 0; k < inv.length; k++) {
            // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all float32
            float exponent = (float) (2 * k) / (float) headDim;
            float pow = (float) Math.pow(baseF, exponent);
            inv[k] = 1.0f / pow;
        }
        return inv;
    }

    /** cos/sin tables [L, d_h] for the given positions (float32, half duplicated). */
    public static CosSin cosSin(long[] positions, int headDim, double base) {
        float[] inv = invFreq(headDim, base);
        int half = headDim / 2;
        float[] cos = new float[positions.length * headDim];
        float[] sin = new float[positions.length * headDim];
        for (int l = 0; l < positions.length; l++) {
            float p = (float) positions[l];
            for (int k = 0; k < half; k++) {
                float angle = inv[k] * p;
                float c = (float) Math.cos(angle);
                float s = (float) Math.sin(angle);
                cos[l * headDim + k] = c;
                cos[l * headDim + k + half] = c;
                sin[l * headDim + k] = s;
                sin[l * headDim + k + half] = s;
            }
        }
        return new CosSin(
                Nd4j.create(cos, new long[] {positions.length, headDim}, DataType.FLOAT),
                Nd4j.create(sin, new long[] {positions.length, headDim}, DataType.FLOAT));
    }

    /** cos/sin tables for positions start, start+1, …, start+length−1. */
    public static CosSin cosSin(long start, int length, int headDim, double base) {
        long[] positions = new long[length];
        for (int i = 0; i < length; i++) {
            positions[i] = start + i;
        }
        return cosSin(positions, headDim, base);
    }

    /** rotate_half(x) = cat(−x[..., d/2:], x[..., :d/2]) along the last dimension. */
    public static INDArray rotateHalf(INDArray x) {
        int last = x.rank() - 1;
        long d = x.size(last);
        if (d % 2 != 0) {
            throw new IllegalArgumentException("rotate_half: last dimension must be even, got shape " + Arrays.toString(x.shape()));
        }
        INDArray x1 = x.get(lastDimInterval(x.rank(), 0, d / 2));
        INDArray x2 = x.get(lastDimInterval(x.rank(), d / 2, d));
        return Nd4j.concat(last, x2.neg(), x1);
    }

    /**
     * Reference rotation x·cos + rotate_half(x)·sin (HF {@code apply_rotary_pos_emb}); x has shape
     * [..., L, d_h] and cos/sin [L, d_h] broadcast over the leading dimensions.
     */
    public static INDArray applyRotary(INDArray x, INDArray cos, INDArray sin) {
        int rank = x.rank();
        if (rank < 2 || x.size(rank - 1) != cos.size(1) || x.size(rank - 2) != cos.size(0)
                || !Arrays.equals(cos.shape(), sin.shape())) {
            throw new IllegalArgumentException("applyRotary: x " + Arrays.toString(x.shape()) + " does not match cos "
                    + Arrays.toString(cos.shape()) + " / sin " + Arrays.toString(sin.shape()) + " (expected [..., L, d_h] vs [L, d_h])");
        }
        INDArray c = cos.castTo(x.dataType());
        INDArray s = sin.castTo(x.dataType());
        return x.mul(c).addi(rotateHalf(x).muli(s));
    }

    static org.nd4j.linalg.indexing.INDArrayIndex[] lastDimInterval(int rank, long from, long to) {
        org.nd4j.linalg.indexing.INDArrayIndex[] idx = new org.nd4j.linalg.indexing.INDArrayIndex[rank];
        for (int i = 0; i < rank - 1; i++) {
            idx[i] = NDArrayIndex.all();
        }
        idx[rank - 1] = NDArrayIndex.interval(from, to);
        return idx;
    }
}
