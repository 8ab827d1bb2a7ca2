package org.mha2mla.layers.generation;

/**
 * What a generation's cache held at the end: the tokens of the sequence so far ({@code tokensSeen}), those still
 * held per layer ({@code tokensHeld}, fewer after pruning) and the bytes they take over all layers, as stored
 * (quantized codes + scales + zero points, float32 otherwise).
 */
public record CacheStats(int tokensSeen, int tokensHeld, long bytesHeld) {

    public static final CacheStats EMPTY = new CacheStats(0, 0, 0);

    /**
     * Cache bytes per token of the sequence: {@code bytesHeld / tokensSeen}. Quantization lowers it through the
     * bytes of each held token, pruning through the tokens no longer held; the plain float32 cache gives
     * {@link org.mha2mla.layers.decode.StaticCache#bytesPerToken()}.
     */
    public double bytesPerToken() {
        return tokensSeen == 0 ? 0 : (double) bytesHeld / tokensSeen;
    }
}
