package org.mha2mla.cli.demo;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.function.Supplier;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * Runs the demo's steps after pretraining (conversions, fine-tuning runs, evaluations) on a few threads, each step as
 * soon as the step it reads has finished. The steps are independent model folders, so two cores can work on two of
 * them at once: the 27 steps of the default run form chains at most 5 long (partial RoPE → stage 1 → MD-SVD →
 * stage 2 → evaluation), and the demo's ops are too small for ND4J to use the second core inside one step.
 *
 * <p>With more than one thread the steps' own progress bars and lines would overwrite each other and the bar on the
 * terminal, so {@link #stepBars()} is then false, one bar counts the finished steps and shows the last line a step
 * wrote, and the steps' lines ({@link #log()}) are held back and printed, in the order they were written, by
 * {@link #close()}.
 */
final class StepPool implements AutoCloseable {

    private final ExecutorService pool;
    private final ProgressBar bar;
    private final boolean stepBars;
    private final PrintStream log;
    private final ByteArrayOutputStream held = new ByteArrayOutputStream();
    private final PrintStream stepLog;
    /** Steps submitted so far (only the caller's thread submits). */
    private int submitted;

    /**
     * @param threads  worker threads (1: the steps run one after another, each with its own progress bar)
     * @param progress show progress at all
     * @param log      where the steps' lines go (at once with one thread, at {@link #close()} with more)
     */
    StepPool(int threads, boolean progress, PrintStream log) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        // Daemon threads: a failed demo exits even while another step is still running.
        this.pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "demo-step");
            t.setDaemon(true);
            return t;
        });
        this.stepBars = progress && threads == 1;
        this.bar = progress && threads > 1
                ? new ProgressBarBuilder().setTaskName("steps ×" + threads).setInitialMax(0)
                        .setUpdateIntervalMillis(1000).continuousUpdate().build()
                : null;
        this.log = log;
        this.stepLog = threads == 1 ? log : new PrintStream(new HeldLines(), true, StandardCharsets.UTF_8);
    }

    /** The log the steps write to. */
    PrintStream log() {
        return stepLog;
    }

    /** Whether each step should show its own progress bar. */
    boolean stepBars() {
        return stepBars;
    }

    /** {@code step} on a worker. */
    <T> CompletableFuture<T> submit(Supplier<T> step) {
        counting();
        return CompletableFuture.supplyAsync(() -> counted(step.get()), pool);
    }

    /** {@code step} on a worker once {@code input} is ready. */
    <A, T> CompletableFuture<T> then(CompletableFuture<A> input, Function<A, T> step) {
        counting();
        return input.thenApplyAsync(a -> counted(step.apply(a)), pool);
    }

    /** The bar's length is the steps submitted so far (all are submitted before the first few finish). */
    private void counting() {
        submitted++;
        if (bar != null) bar.maxHint(submitted);
    }

    private <T> T counted(T result) {
        if (bar != null) bar.step();
        return result;
    }

    /** The step's result; its failure is rethrown as it was thrown (unchecked), not wrapped. */
    static <T> T join(CompletableFuture<T> step) {
        try {
            return step.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a demo step", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() instanceof CompletionException c && c.getCause() != null ? c.getCause() : e.getCause();
            if (cause instanceof RuntimeException r) throw r;
            if (cause instanceof Error err) throw err;
            throw new IllegalStateException(cause);
        }
    }

    @Override
    public void close() {
        pool.shutdownNow();
        if (bar != null) bar.close();
        if (stepLog != log) {
            stepLog.flush();
            synchronized (held) {
                log.print(held.toString(StandardCharsets.UTF_8));
            }
            log.flush();
        }
    }

    /** Keeps every byte for {@link #close()} and shows each finished line on the bar. */
    private final class HeldLines extends OutputStream {
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();

        @Override
        public void write(int b) {
            synchronized (held) {
                held.write(b);
                if (b == '\n') {
                    if (bar != null) bar.setExtraMessage(line.toString(StandardCharsets.UTF_8).strip());
                    line.reset();
                } else {
                    line.write(b);
                }
            }
        }
    }
}
