package org.mha2mla.layers.text;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Additive attention masks [B, 1, L, T] (L new queries, T = cached + new keys): 0 where a query may attend,
 * {@link #MASKED} elsewhere.
 */
public final class AttentionMask {

    /**
     * The fill value. transformers uses torch.finfo(float32).min, but SameDiff's softmax returns NaN for rows
     * near −Float.MAX (measured), and a fully masked padding row would then poison every later layer through
     * 0·NaN in probs·V. −1e9 still gives exp(score − 1e9 − max) = 0 exactly in float32 for every real score,
     * and keeps fully masked rows finite.
     */
    public static final float MASKED = -1e9f;

    private AttentionMask() {
    }

    /** Causal mask for one unpadded sequence: {@code newTokens} queries after {@code pastTokens} cached ones. */
    public static INDArray causal(int newTokens, int pastTokens) {
        long[] keep = new long[pastTokens + newTokens];
        java.util.Arrays.fill(keep, 1);
        return causal(new long[][]{keep}, newTokens);
    }

    /**
     * Causal + padding: {@code keep[b][j]} is the 2-D attention_mask over all T key positions (1 = real token,
     * 0 = padding); the L queries are the last L positions.
     */
    public static INDArray causal(long[][] keep, int newTokens) {
        int b = keep.length;
        int t = keep[0].length;
        int past = t - newTokens;
        org.mha2mla.core.Limits.requireAttentionMask("attention mask", b, newTokens, t);
        float[] m = new float[b * newTokens * t];
        for (int n = 0; n < b; n++) {
            if (keep[n].length != t) {
                throw new IllegalArgumentException("attention_mask rows differ in length: " + keep[n].length + " vs " + t);
            }
            for (int i = 0; i < newTokens; i++) {
                for (int j = 0; j < t; j++) {
                    boolean visible = j <= past + i && keep[n][j] != 0;
                    m[(n * newTokens + i) * t + j] = visible ? 0f : MASKED;
                }
            }
        }
        return Nd4j.create(m, new long[]{b, 1, newTokens, t}, DataType.FLOAT);
    }
}
