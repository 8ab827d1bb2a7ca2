package org.mha2mla.layers.generation;

/**
 * Greedy tokens (the new ones only), the state of the cache that produced them, and where the time went: the prefill
 * (the prompt through every layer, filling the cache; with text fed through the cache, that part counts as decode) and
 * the decode steps (one per new token after the first, which the prefill's logits give).
 */
public record Generation(long[] tokens, CacheStats cache, double prefillSeconds, double decodeSeconds) {

    /** Prompt tokens per second of the prefill. */
    public double prefillTokensPerSecond(int promptTokens) {
        return promptTokens / prefillSeconds;
    }

    /** Decode steps per second (NaN when only the prefill's token was generated). */
    public double decodeTokensPerSecond() {
        return tokens.length > 1 ? (tokens.length - 1) / decodeSeconds : Double.NaN;
    }
}
