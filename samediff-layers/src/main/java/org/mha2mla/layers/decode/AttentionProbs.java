package org.mha2mla.layers.decode;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One layer's attention probabilities of a pass, [B, n_h, L, T] (L queries over the T tokens held, the pass's own
 * included), as the cache-eviction rules read them: {@code values[((b·heads + h)·queries + q)·keyStride + t]}.
 * A decode step's rows are views of a buffer reused from step to step ({@code keyStride} = the cache capacity).
 */
public record AttentionProbs(float[] values, int batch, int heads, int queries, int keys, int keyStride) {

    public AttentionProbs {
        if (keys > keyStride || (long) batch * heads * queries * keyStride > values.length) {
            throw new IllegalArgumentException("attention probabilities [" + batch + ", " + heads + ", " + queries + ", " + keys
                    + "] (key stride " + keyStride + ") need more than " + values.length + " values");
        }
    }

    /** A pass's probabilities [B, n_h, L, T] as a layer graph returns them. */
    public static AttentionProbs of(INDArray probs) {
        if (probs.rank() != 4) throw new IllegalArgumentException("attention probabilities must be [B, n_h, L, T], got rank " + probs.rank());
        INDArray c = probs.dataType() == DataType.FLOAT ? probs : probs.castTo(DataType.FLOAT);
        float[] v = c.dup('c').reshape(c.length()).toFloatVector();
        return new AttentionProbs(v, (int) probs.size(0), (int) probs.size(1), (int) probs.size(2), (int) probs.size(3), (int) probs.size(3));
    }

    /** Probability of key t for query q of head h, sequence b. */
    public float get(int b, int h, int q, int t) {
        return values[((b * heads + h) * queries + q) * keyStride + t];
    }

    /** The attention each held token received in this pass: the sum over sequences, heads and queries, [T]. */
    public double[] received() {
        double[] out = new double[keys];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int q = 0; q < queries; q++) {
                    int row = ((b * heads + h) * queries + q) * keyStride;
                    for (int t = 0; t < keys; t++) out[t] += values[row + t];
                }
            }
        }
        return out;
    }

    /** The last query's attention averaged over sequences and heads, [T]. */
    public double[] lastQueryMean() {
        double[] out = new double[keys];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                int row = ((b * heads + h) * queries + queries - 1) * keyStride;
                for (int t = 0; t < keys; t++) out[t] += values[row + t];
            }
        }
        for (int t = 0; t < keys; t++) out[t] /= (double) batch * heads;
        return out;
    }
}
