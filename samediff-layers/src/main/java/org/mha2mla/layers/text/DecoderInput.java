package org.mha2mla.layers.text;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * What one decoder pass takes: the input embeddings [B, L, d] (image features already merged in), the RoPE
 * tables for these L positions, the additive mask [B, 1, L, T] and the modality of every token [B, L]
 * ({@link #VISUAL} or {@link #TEXT}). The original attention ignores the modality; MLA's modality-decoupled
 * factors (MD-SVD) pick the down/up projection of each token by it.
 */
public record DecoderInput(INDArray inputsEmbeds, RopeTables rope, INDArray attentionMask, INDArray modality) {

    public static final float TEXT = 0f;
    public static final float VISUAL = 1f;

    /** A pass whose tokens are all text (decode steps, text-only prompts). */
    public DecoderInput(INDArray inputsEmbeds, RopeTables rope, INDArray attentionMask) {
        this(inputsEmbeds, rope, attentionMask, Nd4j.zeros(DataType.FLOAT, inputsEmbeds.size(0), inputsEmbeds.size(1)));
    }

    /** Modality [1, L] of one prompt: {@link #VISUAL} where {@code visual[i]}. */
    public static INDArray modality(boolean[] visual) {
        float[] m = new float[visual.length];
        for (int i = 0; i < m.length; i++) m[i] = visual[i] ? VISUAL : TEXT;
        return Nd4j.create(m, new long[]{1, m.length}, DataType.FLOAT);
    }

    public int length() {
        return (int) inputsEmbeds.size(1);
    }

    /** The first {@code n} positions of a single causal prompt, as a pass of their own (copies). */
    public DecoderInput prefix(int n) {
        if (inputsEmbeds.size(0) != 1) throw new IllegalArgumentException("a prompt prefix needs batch 1, got " + inputsEmbeds.size(0));
        return new DecoderInput(embeds(0, n), rope.positions(0, n), AttentionMask.causal(n, 0),
                modality.get(NDArrayIndex.all(), NDArrayIndex.interval(0, n)).dup());
    }

    /** The input embeddings [B, to − from, d] of positions [from, to) (a copy). */
    public INDArray embeds(int from, int to) {
        return inputsEmbeds.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup();
    }
}
