package org.mha2mla.layers.text;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What one decoder pass takes: the input embeddings [B, L, d] (image features already merged in), the RoPE
 * tables for these L positions and the additive mask [B, 1, L, T].
 */
public record DecoderInput(INDArray inputsEmbeds, RopeTables rope, INDArray attentionMask) {

    public int length() {
        return (int) inputsEmbeds.size(1);
    }
}
