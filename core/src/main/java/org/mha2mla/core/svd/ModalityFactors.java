package org.mha2mla.core.svd;

/** Modality-decoupled factors of one layer: W_dkv[m], W_up[m] for m ∈ {text, visual} (MD-SVD). */
public record ModalityFactors(LowRankFactors text, LowRankFactors visual) {

    /** The factors of a token's modality. */
    public LowRankFactors forModality(boolean visualToken) {
        return visualToken ? visual : text;
    }
}
