package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class CollectionBudgetTest {

    private static final long MB = 1L << 20;

    @Test
    void collectsOnceTheResidentMemoryGrewByTheBudgetSinceTheLastCollection() {
        AtomicLong resident = new AtomicLong(700 * MB);
        AtomicInteger collections = new AtomicInteger();
        // A collection frees what the passes left: the resident size drops to 800 MB.
        CollectionBudget budget = new CollectionBudget(resident::get, 1024 * MB, () -> {
            collections.incrementAndGet();
            resident.set(800 * MB);
        });
        assertFalse(budget.maybeCollect(), "700 MB is below the first budget");
        resident.set(1100 * MB);
        assertTrue(budget.maybeCollect());
        assertEquals(1, collections.get());
        // small layers: 100 MB each, a collection after 11 of them (from 800 MB past 1,824 MB)
        int layers = 0;
        while (!budget.maybeCollect()) {
            resident.addAndGet(100 * MB);
            layers++;
        }
        assertEquals(11, layers, "growth counted from the size after the last collection");
        assertEquals(2, collections.get());
        // a 7B layer at thousands of tokens: every layer passes the budget
        for (int i = 0; i < 5; i++) {
            resident.addAndGet(3000 * MB);
            assertTrue(budget.maybeCollect(), "layer " + i);
        }
        assertEquals(7, collections.get());
    }

    @Test
    void theProcessBudgetReadsTheResidentMemoryOfThisProcess() {
        // Through JavaCPP from /proc/self/statm: a running JVM holds tens of megabytes at least, so a budget of one
        // byte collects at once, and again only after the size moved by a byte.
        AtomicInteger collections = new AtomicInteger();
        CollectionBudget budget = new CollectionBudget(org.bytedeco.javacpp.Pointer::physicalBytes, 1, collections::incrementAndGet);
        assertTrue(org.bytedeco.javacpp.Pointer.physicalBytes() > 10 * MB);
        assertTrue(budget.maybeCollect());
        assertEquals(1, collections.get());
        assertEquals(1L << 30, CollectionBudget.DEFAULT_GROWTH);
    }
}
