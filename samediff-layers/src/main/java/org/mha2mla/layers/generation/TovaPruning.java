package org.mha2mla.layers.generation;

import org.mha2mla.layers.decode.AttentionProbs;

/**
 * TOVA (Oren et al., 2024, "Transformers are Multi-State RNNs"): once a layer holds more than the budget, keep
 * the tokens the current query attends to most, its attention averaged over heads (the reference TOVACache: the
 * last query row, mean over heads, top-k, sorted). In decoding that drops exactly one token per step, possibly
 * the newest; after the prefill it cuts the prompt to the budget using the last prompt token's attention.
 */
public final class TovaPruning implements CachePruning {

    private final Budget budget;

    public TovaPruning(Budget budget) {
        this.budget = budget;
    }

    @Override
    public Evictor start(int promptLength, int layers) {
        int size = budget.size(promptLength);
        return (layer, probs) -> {
            double[] mean = probs.lastQueryMean(); // [T]: the last query's row, mean over batch and heads
            return mean.length <= size ? null : TopTokens.top(mean, mean.length, size);
        };
    }

    @Override
    public String label() {
        return "tova-" + budget.label();
    }
}
