package org.mha2mla.layers.decode;

/**
 * One layer's self-attention for a decode step: the new token of every sequence attends over the layer's cache
 * (which it first joins), and the result goes through o_proj. {@link GqaStep} serves the original and the partial-RoPE
 * attention, {@link MlaStep} the converted one over its latent cache.
 */
interface AttentionStep {

    /** Query heads (the probabilities' head axis). */
    int heads();

    /**
     * @param x        the normed hidden states of the new tokens [B·d]
     * @param modality per sequence, {@code DecoderInput.VISUAL} or {@code TEXT} (MLA's per-modality factors)
     * @param out      receives o_proj's output [B·d]
     * @param probs    null, or receives the attention probabilities [B][n_h][probsStride] of the held slots
     */
    void run(float[] x, int batch, StepRope rope, float[] modality, StaticCache cache, int layer, float[] out,
             float[] probs, int probsStride, StepProfile profile);
}
