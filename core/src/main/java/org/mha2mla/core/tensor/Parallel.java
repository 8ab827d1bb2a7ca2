package org.mha2mla.core.tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Splits a loop over [0, n) into contiguous ranges run on the CPU's cores: the calling thread takes one range, a
 * fixed pool of daemon threads the others. The pool has {@code mha2mla.threads − 1} threads (system property,
 * default the available processors), so one call keeps every core busy and calls never nest.
 */
public final class Parallel {

    /** A loop body over [from, to). */
    @FunctionalInterface
    public interface Range {
        void run(int from, int to);
    }

    private static final int THREADS = Math.max(1, Integer.getInteger("mha2mla.threads", Runtime.getRuntime().availableProcessors()));
    private static final ExecutorService POOL = THREADS == 1 ? null : Executors.newFixedThreadPool(THREADS - 1, r -> {
        Thread t = new Thread(r, "mha2mla-kernels");
        t.setDaemon(true);
        return t;
    });

    private Parallel() {
    }

    /** Threads a loop is split over. */
    public static int threads() {
        return THREADS;
    }

    /**
     * Runs {@code body} over [0, n) in up to {@link #threads()} ranges of at least {@code minPerRange} iterations
     * (one range, on the calling thread, when n is small), and returns when all are done.
     */
    public static void forRange(int n, int minPerRange, Range body) {
        int parts = (int) Math.min(THREADS, Math.max(1, n / Math.max(1, (long) minPerRange)));
        if (parts <= 1 || POOL == null) {
            body.run(0, n);
            return;
        }
        List<Future<?>> others = new ArrayList<>(parts - 1);
        for (int k = 1; k < parts; k++) {
            int from = (int) ((long) n * k / parts);
            int to = (int) ((long) n * (k + 1) / parts);
            others.add(POOL.submit(() -> body.run(from, to)));
        }
        Throwable failure = null;
        try {
            body.run(0, (int) ((long) n / parts));
        } catch (RuntimeException | Error e) {
            failure = e;
        }
        for (Future<?> f : others) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (failure == null) failure = e.getCause();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failure == null) failure = e;
            }
        }
        if (failure instanceof RuntimeException re) throw re;
        if (failure instanceof Error er) throw er;
        if (failure != null) throw new IllegalStateException(failure);
    }
}
