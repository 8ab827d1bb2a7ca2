package org.mha2mla.cli.fuzz;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * A seeded mutation fuzzer's bookkeeping. Every case feeds one mutated input to the code under test and must end in
 * one of two outcomes:
 * <ul>
 *   <li><b>refused</b>: a {@link RuntimeException} whose one-line message ({@code mha2mla: …} as the CLI prints it)
 *       names the input it refuses (the file, or the template's origin), and is not one of the exceptions that
 *       betray a bug ({@link #BUGS}: null pointers, bad casts, indexes, arithmetic, number parsing);</li>
 *   <li><b>accepted</b>: a result the target's own check finds correct (values equal a second decoder's, sizes
 *       positive, …).</li>
 * </ul>
 * Anything else fails the test: an {@link Error} (out of memory, stack overflow), a bug-class exception, a message
 * that does not name its input or spans lines, a case running past {@link #HANG_SECONDS} (the hang detector; no
 * case comes near it), or an input file whose bytes changed. The seed and case counts are fixed (override with
 * {@code -Dfuzz.seed=…} and {@code -Dfuzz.scale=…} for longer runs); every figure is printed as one summary line.
 */
final class Fuzz {

    /** Exceptions that are never a clear refusal: they betray a missing check. */
    static final List<Class<? extends Throwable>> BUGS = List.of(NullPointerException.class, ClassCastException.class,
            IndexOutOfBoundsException.class, ArithmeticException.class, NumberFormatException.class, NegativeArraySizeException.class,
            ArrayStoreException.class, UnsupportedOperationException.class, java.util.NoSuchElementException.class,
            java.util.ConcurrentModificationException.class, java.nio.BufferUnderflowException.class,
            java.nio.BufferOverflowException.class);
    static final double HANG_SECONDS = 30;

    /** One case: runs the target on its input and checks an accepted result (throwing AssertionError when wrong). */
    @FunctionalInterface
    interface Case {
        void run() throws Exception;
    }

    private final String target;
    private final Predicate<String> namesInput;
    private final Map<String, Integer> refusals = new TreeMap<>();
    private final List<String> failures = new ArrayList<>();
    private ExecutorService worker = newWorker();
    private int cases;
    private int accepted;
    private long nanos;

    /** @param namesInput whether a refusal's message names the input (e.g. contains the file path) */
    Fuzz(String target, Predicate<String> namesInput) {
        this.target = target;
        this.namesInput = namesInput;
    }

    private static ExecutorService newWorker() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz");
            t.setDaemon(true);
            return t;
        });
    }

    static long seed() {
        return Long.getLong("fuzz.seed", 22L);
    }

    /** {@code n} scaled by {@code -Dfuzz.scale} (default 1). */
    static int cases(int n) {
        return (int) Math.max(1, Math.round(n * Double.parseDouble(System.getProperty("fuzz.scale", "1"))));
    }

    static Random random(String target) {
        return new Random(seed() * 31 + target.hashCode());
    }

    /** Runs one case described by {@code label}; {@code inputs} must hold the same bytes afterwards. */
    void check(String label, Case c, Path... inputs) {
        cases++;
        Map<Path, byte[]> before = new TreeMap<>();
        for (Path p : inputs) before.put(p, read(p));
        long t0 = System.nanoTime();
        Future<?> f = worker.submit(() -> {
            c.run();
            return null;
        });
        try {
            f.get((long) (HANG_SECONDS * 1000), TimeUnit.MILLISECONDS);
            accepted++;
        } catch (TimeoutException e) {
            f.cancel(true);
            failures.add(label + ": still running after " + HANG_SECONDS + " s");
            worker.shutdownNow();               // the stuck thread cannot be stopped; later cases get a new one
            worker = newWorker();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failures.add(label + ": interrupted");
        } catch (ExecutionException e) {
            classify(label, e.getCause());
        } finally {
            nanos += System.nanoTime() - t0;
        }
        for (Map.Entry<Path, byte[]> b : before.entrySet()) {
            if (!Arrays.equals(b.getValue(), read(b.getKey()))) failures.add(label + ": input " + b.getKey() + " changed");
        }
    }

    private void classify(String label, Throwable t) {
        if (t instanceof AssertionError a) {
            failures.add(label + ": accepted with a wrong result: " + a.getMessage());
            return;
        }
        String line = org.mha2mla.cli.Main.oneLine(t);
        for (Throwable c = t; c != null; c = c.getCause()) {
            for (Class<? extends Throwable> bug : BUGS) {
                if (bug.isInstance(c)) {
                    failures.add(label + ": " + c.getClass().getSimpleName() + " (" + line + ")");
                    return;
                }
            }
        }
        if (!(t instanceof RuntimeException)) {
            failures.add(label + ": " + t.getClass().getSimpleName() + ": " + line);
        } else if (line.contains("\n") || !namesInput.test(line)) {
            failures.add(label + ": unclear refusal (" + t.getClass().getSimpleName() + "): " + line);
        } else {
            refusals.merge(t.getClass().getSimpleName(), 1, Integer::sum);
        }
    }

    /** Asserts no case failed and prints the summary; returns it (for the README's figures). */
    String finish() {
        worker.shutdownNow();
        int refused = cases - accepted - failures.size();
        String summary = String.format(Locale.ROOT, "fuzz %s (seed %d): %d cases, %d accepted and checked, %d refused with a clear line "
                + "%s, %d failures, %.1f s", target, seed(), cases, accepted, refused, refusals, failures.size(), nanos / 1e9);
        System.out.println(summary);
        if (!failures.isEmpty()) {
            fail(summary + "\n  " + String.join("\n  ", failures.subList(0, Math.min(20, failures.size()))));
        }
        return summary;
    }

    static byte[] read(Path p) {
        try {
            return Files.exists(p) ? Files.readAllBytes(p) : new byte[0];
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
