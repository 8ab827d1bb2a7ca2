package org.mha2mla.trainer;

import java.util.function.LongSupplier;

import org.bytedeco.javacpp.Pointer;

/**
 * When a layer-by-layer pass collects garbage: once the process's resident memory has grown by {@link #growth} bytes
 * since the last collection. SameDiff's arrays live off-heap and go back only when the JVM collects their Java wrappers,
 * which a small, quiet heap does not do within one update, so {@link LayerwiseGradients} must collect between layers;
 * but a full collection costs 60–90 ms whatever it frees, and a small model's layer leaves far less than the budget
 * behind (benchmarks/trainer/README.md: 8 collections per update were a third of the default shape's layer-by-layer
 * update). A 7B layer at thousands of tokens leaves gigabytes, so it still collects after every layer and query block,
 * and the peak exceeds the one-collection-per-layer peak by at most the budget.
 */
final class CollectionBudget {

    /** The default growth between collections: 1 GiB. */
    static final long DEFAULT_GROWTH = 1L << 30;

    private final LongSupplier resident;
    private final long growth;
    private final Runnable collect;
    /** Resident bytes right after the last collection (0 before the first: the first call collects once past the budget). */
    private long afterLast;

    CollectionBudget(LongSupplier resident, long growth, Runnable collect) {
        this.resident = resident;
        this.growth = growth;
        this.collect = collect;
    }

    /** The process's resident memory ({@code /proc/self/statm} through JavaCPP), {@link System#gc()}, 1 GiB. */
    static CollectionBudget ofProcess() {
        return new CollectionBudget(Pointer::physicalBytes, DEFAULT_GROWTH, System::gc);
    }

    /** Collects if the resident memory grew by the budget since the last collection; returns whether it did. */
    boolean maybeCollect() {
        if (resident.getAsLong() - afterLast < growth) return false;
        collect.run();
        afterLast = resident.getAsLong();
        return true;
    }
}
