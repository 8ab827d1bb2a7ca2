package org.mha2mla.layers.generation;

/** Greedy tokens (the new ones only) and the state of the cache that produced them. */
public record Generation(long[] tokens, CacheStats cache) {
}
