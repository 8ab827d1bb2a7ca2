package org.mha2mla.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

class StepPoolTest {

    @Test
    void twoThreadsRunIndependentStepsAtOnceAndAStepAfterItsInput() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream log = new PrintStream(out, true, StandardCharsets.UTF_8);
        CountDownLatch bothStarted = new CountDownLatch(2);
        List<Integer> results;
        try (StepPool pool = new StepPool(2, false, log)) {
            assertFalse(pool.stepBars(), "side by side, a step's own bar would overwrite the other's");
            // Each of the first two steps waits for the other to start: they finish only if they run at once.
            CompletableFuture<Integer> a = pool.submit(() -> meet(bothStarted, pool, "a", 1));
            CompletableFuture<Integer> b = pool.submit(() -> meet(bothStarted, pool, "b", 2));
            CompletableFuture<Integer> c = pool.then(a, x -> {
                pool.log().println("c read " + x);
                return 10 * x;
            });
            results = List.of(StepPool.join(a), StepPool.join(b), StepPool.join(c));
            assertEquals("", out.toString(StandardCharsets.UTF_8), "the steps' lines wait for close()");
        }
        assertEquals(List.of(1, 2, 10), results);
        List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
        assertEquals(3, lines.size(), lines.toString());
        assertTrue(lines.containsAll(List.of("a done", "b done", "c read 1")), lines.toString());
        assertTrue(lines.indexOf("a done") < lines.indexOf("c read 1"), "held lines keep the order they were written in");
    }

    private static int meet(CountDownLatch bothStarted, StepPool pool, String name, int value) {
        bothStarted.countDown();
        try {
            if (!bothStarted.await(20, TimeUnit.SECONDS)) throw new IllegalStateException(name + ": the other step never started");
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
        pool.log().println(name + " done");
        return value;
    }

    @Test
    void oneThreadWritesAtOnceAndKeepsTheStepsOwnBars() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream log = new PrintStream(out, true, StandardCharsets.UTF_8);
        try (StepPool pool = new StepPool(1, true, log)) {
            assertTrue(pool.stepBars());
            assertSame(log, pool.log());
            StepPool.join(pool.submit(() -> {
                pool.log().println("now");
                return 0;
            }));
            assertEquals("now", out.toString(StandardCharsets.UTF_8).strip());
        }
    }

    @Test
    void aFailedStepIsRethrownAsThrownAndItsDependentsFailToo() {
        UncheckedIOException cause = new UncheckedIOException("variants/x: disk full", new java.io.IOException("disk full"));
        try (StepPool pool = new StepPool(2, false, new PrintStream(new ByteArrayOutputStream()))) {
            CompletableFuture<Integer> failed = pool.submit(() -> {
                throw cause;
            });
            CompletableFuture<Integer> after = pool.then(failed, x -> x + 1);
            assertSame(cause, assertThrows(UncheckedIOException.class, () -> StepPool.join(failed)));
            assertSame(cause, assertThrows(UncheckedIOException.class, () -> StepPool.join(after)));
        }
    }
}
