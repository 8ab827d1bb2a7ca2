package org.mha2mla.layers.generation;

import org.mha2mla.layers.decode.AttentionProbs;

/**
 * H2O (Zhang et al., 2023, "Heavy-Hitter Oracle"): every cached token accumulates the attention it receives from
 * every query of every pass; once a layer holds more than the budget, it keeps the most recent tokens plus the
 * heavy hitters (highest accumulated score) among the older ones, as the reference H2OKVCache_LayerWise does.
 *
 * <p>The reference keeps scores per head and evicts per head; a latent (MLA) cache has no per-head tokens, so
 * here the score of a token is summed over heads as well and every layer evicts whole tokens. The split of the
 * budget follows the reference's equal heavy and recent ratios by default ({@code recentShare} 0.5: recent =
 * ⌊0.5·budget⌋, heavy = budget − recent).
 */
public final class H2oPruning implements CachePruning {

    private final Budget budget;
    private final double recentShare;

    /** @param recentShare share of the budget for the recent window, in [0, 1] */
    public H2oPruning(Budget budget, double recentShare) {
        if (!(recentShare >= 0 && recentShare <= 1)) {
            throw new IllegalArgumentException("H2O recent share must be in [0, 1], got " + recentShare);
        }
        this.budget = budget;
        this.recentShare = recentShare;
    }

    /** Heavy hitters and recent window halve the budget. */
    public H2oPruning(Budget budget) {
        this(budget, 0.5);
    }

    @Override
    public Evictor start(int promptLength, int layers) {
        int size = budget.size(promptLength);
        int recent = (int) Math.floor(recentShare * size);
        return new State(size, recent, layers);
    }

    @Override
    public String label() {
        return "h2o-" + budget.label() + (recentShare == 0.5 ? "" : "-recent" + recentShare);
    }

    /** Accumulated attention per held token, per layer. */
    static final class State implements Evictor {
        final int cacheSize;
        final int recentSize;
        private final double[][] scores;

        State(int cacheSize, int recentSize, int layers) {
            this.cacheSize = cacheSize;
            this.recentSize = recentSize;
            this.scores = new double[layers][0];
        }

        @Override
        public int[] keep(int layer, AttentionProbs probs) {
            // Received attention of each of the T held tokens in this pass: sum over batch, heads and queries.
            double[] received = probs.received();
            int t = received.length;
            double[] old = scores[layer];
            if (old.length > t) {
                throw new IllegalStateException("layer " + layer + ": attention over " + t + " tokens but " + old.length + " scored");
            }
            for (int i = 0; i < old.length; i++) received[i] += old[i]; // _update_hh_score: new tokens start at their own column
            scores[layer] = received;
            if (t <= cacheSize) return null;
            int recentStart = t - recentSize;
            int[] heavy = TopTokens.top(received, recentStart, cacheSize - recentSize);
            int[] keep = new int[heavy.length + recentSize];
            System.arraycopy(heavy, 0, keep, 0, heavy.length);
            for (int i = 0; i < recentSize; i++) keep[heavy.length + i] = recentStart + i;
            scores[layer] = TopTokens.select(received, keep);
            return keep;
        }

        /** The accumulated scores of {@code layer}'s held tokens. */
        double[] scores(int layer) {
            return scores[layer].clone();
        }
    }
}
