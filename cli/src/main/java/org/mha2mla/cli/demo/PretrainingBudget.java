package org.mha2mla.cli.demo;

import java.util.Arrays;

import org.mha2mla.trainer.TrainingLoop;

/**
 * The demo's wall-clock budget as the pretraining's horizon: once {@link #DECIDE_AFTER} updates are done, and again
 * every {@link #REFIT} updates, it measures the speed (median of the last {@link #WINDOW} updates) and plans the total
 * that, with the demo's remaining work counted in updates of the same machine, ends by the deadline (at most the
 * settings' updates). The cosine then ends earlier on a slower machine, so the demo keeps its 15-minute budget instead of
 * overrunning it, and later again where the run has sped up since the last plan. The warmup does not depend on the
 * total, so the updates before the first decision already follow the schedule the run ends with, up to a few at the
 * very top of the cosine. The remaining work is counted in updates because it is the same kind of computation
 * (conversion, fine-tuning and evaluation graphs) and scales with it.
 */
final class PretrainingBudget implements TrainingLoop.Horizon {

    /**
     * Updates timed before the first decision, whose median is over the last {@link #WINDOW}: the first few take
     * seconds each (JIT, graph set-up) and up to ~20 are slower than the rest while ND4J's caches fill.
     */
    static final int DECIDE_AFTER = 40;
    /** Updates between later decisions: the demo's updates slow down as a run goes on, which one early decision overran. */
    static final int REFIT = 50;
    static final int WINDOW = 20;
    /** The total is a multiple of this, so run-to-run timing noise rarely changes it. */
    static final int GRANULARITY = 25;

    private final long deadlineNanos;
    private final double afterwardUpdates;
    private final int maxSteps;
    private final long warmup;
    private double secondsPerUpdate = Double.NaN;

    /**
     * @param deadlineNanos    a {@link System#nanoTime} by which the demo's whole job should end
     * @param afterwardUpdates the demo's work after pretraining, in pretraining updates
     * @param maxSteps         the most updates the settings allow
     * @param warmup           the schedule's warmup updates
     */
    PretrainingBudget(long deadlineNanos, double afterwardUpdates, int maxSteps, long warmup) {
        this.deadlineNanos = deadlineNanos;
        this.afterwardUpdates = afterwardUpdates;
        this.maxSteps = maxSteps;
        this.warmup = warmup;
    }

    static boolean decides(long step) {
        return step >= DECIDE_AFTER && (step - DECIDE_AFTER) % REFIT == 0;
    }

    @Override
    public long total(long done, long planned, double[] seconds) {
        if (!decides(done)) return planned;
        double[] window = Arrays.copyOfRange(seconds, (int) done - WINDOW, (int) done);
        Arrays.sort(window);
        secondsPerUpdate = window[window.length / 2];
        // Shortened or lengthened to what the latest speed fits: a change is a granule or two, so the cosine moves by a
        // few percent of its LR.
        return fit(maxSteps, warmup, (int) done, secondsPerUpdate, (deadlineNanos - System.nanoTime()) / 1e9, afterwardUpdates);
    }

    /** The median seconds per update of the latest decision, NaN before the first. */
    double secondsPerUpdate() {
        return secondsPerUpdate;
    }

    /**
     * The total that fits: {@code done} plus what {@code secondsLeft} allows at {@code secondsPerUpdate} once the
     * afterward work is set aside, rounded down to a multiple of {@link #GRANULARITY}; at least {@code done} plus one
     * granule and twice the warmup (a cosine needs room to decay), at most {@code maxSteps}.
     */
    static int fit(int maxSteps, long warmup, int done, double secondsPerUpdate, double secondsLeft, double afterwardUpdates) {
        double room = secondsLeft / secondsPerUpdate - afterwardUpdates;
        long total = (long) Math.floor(done + Math.max(0, room)) / GRANULARITY * GRANULARITY;
        long floor = Math.max(done + GRANULARITY, 2 * warmup);
        return (int) Math.min(maxSteps, Math.max(floor, total));
    }
}
