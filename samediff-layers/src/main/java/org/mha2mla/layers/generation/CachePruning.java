package org.mha2mla.layers.generation;

import org.mha2mla.layers.decode.AttentionProbs;

/**
 * A cache-eviction rule ranked by attention (the baselines of the paper's Table 2): after a pass, which of a
 * layer's held tokens stay. Eviction is per layer and removes a token from every cache tensor of the layer
 * along its sequence axis, so tensors that describe one token together (K and V, or MLA's c_kv, k_rope and
 * modality) stay aligned.
 */
public interface CachePruning extends java.io.Serializable {

    /** The per-sequence state of this rule (H2O accumulates scores) for a prompt of {@code promptLength} tokens. */
    Evictor start(int promptLength, int layers);

    /** For logs and result files, e.g. {@code h2o-0.5}. */
    String label();

    interface Evictor {
        /**
         * Called after every pass, once the pass's tokens are in the cache.
         *
         * @param layer the decoder layer
         * @param probs its attention probabilities [B, n_h, L, T] for the pass's L queries over the T tokens held
         *              (the pass's own included)
         * @return ascending indices (into the T held tokens) of those to keep, or null to keep all
         */
        int[] keep(int layer, AttentionProbs probs);
    }
}
