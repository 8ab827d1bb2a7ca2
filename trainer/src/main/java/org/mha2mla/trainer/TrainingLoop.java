package org.mha2mla.trainer;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.LongFunction;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import org.mha2mla.trainer.data.ExampleStream;
import org.mha2mla.trainer.data.Examples;
import org.mha2mla.trainer.data.TrainingExample;

/**
 * The training loop of every run, as nanoGPT's: take the update's examples, LR from the schedule, one
 * {@link PeftStage#step}, log, checkpoint now and then.
 * <pre>
 *   while step < total:
 *     total = horizon(step, total)                         (a fixed length, or e.g. the demo's time budget)
 *     micro-batches of the next examples;  r = stage.step(batches, schedule(total).lr(step))
 *     log r (loss.csv, progress);  checkpoint every N updates and at the end
 * </pre>
 * Used by {@code mha2mla train} ({@link Trainer}: one PEFT stage, resumable) and by the demo's pretraining (every
 * parameter trains; the demo's time budget is its {@link Horizon}). What computes the gradients is the stage's
 * {@link GradientSource}.
 */
public final class TrainingLoop {

    private TrainingLoop() {
    }

    /**
     * Plans a run's length as it goes. Asked before every update with the updates done, the total planned so far and
     * the wall seconds of each update done; the schedule is stretched over what it returns.
     */
    @FunctionalInterface
    public interface Horizon {
        long total(long done, long planned, double[] seconds);

        /** The length the settings give. */
        Horizon FIXED = (done, planned, seconds) -> planned;
    }

    /** Where a run starts: a fresh one, or a resumed one's step, tokens and training seconds so far. */
    public record Start(long step, long tokens, double elapsedSeconds) {
        public static final Start FRESH = new Start(0, 0, 0);
    }

    /**
     * What a run did.
     *
     * @param rows    this invocation's log rows (full precision), one per update
     * @param step    updates done in total (across resumes)
     * @param total   the run's planned length at the end (the settings' unless a {@link Horizon} changed it)
     * @param seconds wall time of this invocation's updates
     * @param tokens  input tokens of this invocation's updates
     */
    public record Result(List<LossLog.Row> rows, long step, long total, double seconds, long tokens) {
        public boolean finished() {
            return step >= total;
        }
    }

    /**
     * Everything a run takes besides its stage and data; {@link #builder} has the defaults.
     *
     * @param name            what the log lines and the progress bar call the run (e.g. {@code stage1}, {@code pretraining})
     * @param steps           updates of the whole run (the schedule spans them), unless the horizon changes it
     * @param stopAfter       stop (with a checkpoint) after this many updates of this invocation; 0: run to the end
     * @param schedule        the LR schedule of a run of a given length
     * @param checkpointDir   where checkpoints go; null: none
     * @param collectGarbage  a full collection before every update's passes: SameDiff's intermediate arrays live off-heap
     *                        and go back only when the JVM collects their wrappers, which a big, quiet heap rarely does;
     *                        before the passes, so the first also returns the heap garbage of loading the model (figures:
     *                        benchmarks/trainer/README.md, "Collecting garbage every update")
     */
    public record Settings(String name, long steps, long stopAfter, int microBatchSize, int gradAccumulation,
                           LongFunction<LrSchedule> schedule, Horizon horizon, Path lossCsv, Path lossPng, String curveTitle,
                           Path checkpointDir, long checkpointEvery, int keepCheckpoints, AdamW.Config adam, long seed,
                           boolean progress, boolean collectGarbage) {

        public static Builder builder(String name, long steps, LongFunction<LrSchedule> schedule, Path lossCsv) {
            return new Builder(name, steps, schedule, lossCsv);
        }

        /** Defaults: one example per update, no checkpoints, a progress bar, the settings' length. */
        public static final class Builder {
            private final String name;
            private final long steps;
            private final LongFunction<LrSchedule> schedule;
            private final Path lossCsv;
            private long stopAfter;
            private int microBatchSize = 1;
            private int gradAccumulation = 1;
            private Horizon horizon = Horizon.FIXED;
            private Path lossPng;
            private String curveTitle;
            private Path checkpointDir;
            private long checkpointEvery;
            private int keepCheckpoints = 2;
            private AdamW.Config adam = AdamW.Config.defaults(0);
            private long seed;
            private boolean progress = true;
            private boolean collectGarbage;

            private Builder(String name, long steps, LongFunction<LrSchedule> schedule, Path lossCsv) {
                this.name = name;
                this.steps = steps;
                this.schedule = schedule;
                this.lossCsv = lossCsv;
            }

            public Builder stopAfter(long v) { stopAfter = v; return this; }
            public Builder microBatchSize(int v) { microBatchSize = v; return this; }
            public Builder gradAccumulation(int v) { gradAccumulation = v; return this; }
            public Builder horizon(Horizon v) { horizon = v; return this; }
            /** The loss curve's file and title (none without). */
            public Builder curve(Path png, String title) { lossPng = png; curveTitle = title; return this; }
            /** Checkpoints under {@code dir} every {@code every} updates (0: only at the end or stop), the newest {@code keep} kept. */
            public Builder checkpoints(Path dir, long every, int keep) { checkpointDir = dir; checkpointEvery = every; keepCheckpoints = keep; return this; }
            /** What a checkpoint records of the optimizer and the data order. */
            public Builder adam(AdamW.Config v) { adam = v; return this; }
            public Builder seed(long v) { seed = v; return this; }
            public Builder progress(boolean v) { progress = v; return this; }
            public Builder collectGarbage(boolean v) { collectGarbage = v; return this; }

            public Settings build() {
                if (steps < 1 || stopAfter < 0 || microBatchSize < 1 || gradAccumulation < 1) {
                    throw new IllegalArgumentException("need steps, micro-batch and accumulation >= 1 and stopAfter >= 0; got " + steps
                            + ", " + microBatchSize + ", " + gradAccumulation + ", " + stopAfter);
                }
                return new Settings(name, steps, stopAfter, microBatchSize, gradAccumulation, schedule, horizon, lossCsv, lossPng,
                        curveTitle, checkpointDir, checkpointEvery, keepCheckpoints, adam, seed, progress, collectGarbage);
            }
        }
    }

    /** Runs {@code stage} on {@code data} from {@code start} (a resumed run's position, already restored) to the end or the stop. */
    public static Result run(PeftStage stage, Examples data, Settings s, Start start, PrintStream log) {
        long step = start.step();
        long tokens = start.tokens();
        long total = s.steps();
        LrSchedule schedule = s.schedule().apply(total);
        List<Double> seconds = new ArrayList<>();
        List<LossLog.Row> rows = new ArrayList<>();
        long tokensNow = 0;
        long begin = System.nanoTime();
        try (LossLog lossLog = LossLog.open(s.lossCsv(), step);
             ProgressBar bar = s.progress() ? progressBar(s.name(), total, step) : null) {
            // An update of a 7B-class model takes minutes to hours: its layer shows beside the bar.
            if (bar != null) stage.source().reportProgress(where -> bar.setExtraMessage(where));
            while (step < stopAt(s, total, start.step())) {
                long planned = s.horizon().total(step, total, seconds.stream().mapToDouble(Double::doubleValue).toArray());
                if (planned != total) {
                    total = planned;
                    schedule = s.schedule().apply(total);
                    if (bar != null) bar.maxHint(total);
                    if (step >= stopAt(s, total, start.step())) break;
                }
                long t0 = System.nanoTime();
                List<GradientSource.Batch> batches = new ArrayList<>();
                for (int a = 0; a < s.gradAccumulation(); a++) {
                    List<TrainingExample> examples = new ArrayList<>();
                    for (int b = 0; b < s.microBatchSize(); b++) examples.add(data.next());
                    batches.add(stage.batch(examples));
                }
                // One full collection per update, before its passes (see collectGarbage).
                if (s.collectGarbage()) System.gc();
                double lr = schedule.lr(step);
                PeftStage.StepResult r = stage.step(batches, lr);
                batches.forEach(GradientSource.Batch::release);
                step++;
                if (r.skipped()) log.println(GradientClipping.skipWarning(s.name() + " update " + step, r.loss(), r.nonFinite()));
                tokens += r.tokens();
                tokensNow += r.tokens();
                double took = (System.nanoTime() - t0) / 1e9;
                seconds.add(took);
                double elapsed = start.elapsedSeconds() + (System.nanoTime() - begin) / 1e9;
                LossLog.Row row = new LossLog.Row(step, r.loss(), lr, r.gradNorm(), r.tokens(), r.tokens() / took, elapsed);
                lossLog.append(row);
                rows.add(row);
                if (bar != null) {
                    bar.stepTo(step);
                    bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f lr %.2e %.0f tok/s", r.loss(), lr, row.tokensPerSecond()));
                }
                boolean last = step == stopAt(s, total, start.step());
                if (s.checkpointDir() != null && ((s.checkpointEvery() > 0 && step % s.checkpointEvery() == 0) || last)) {
                    TrainingCheckpoint.State state = new TrainingCheckpoint.State(step, stage.mask().name(), stage.trainable(),
                            schedule, s.adam(), s.seed(), data.state(), tokens, elapsed);
                    TrainingCheckpoint.write(s.checkpointDir(), state, stage.trainableParams(), stage.optimizer(), s.keepCheckpoints());
                }
            }
            if (bar != null) stage.source().reportProgress(where -> { });
            if (s.lossPng() != null) lossLog.writeCurve(s.lossPng(), s.curveTitle());
        }
        return new Result(rows, step, total, (System.nanoTime() - begin) / 1e9, tokensNow);
    }

    private static long stopAt(Settings s, long total, long startStep) {
        return s.stopAfter() > 0 ? Math.min(total, startStep + s.stopAfter()) : total;
    }

    private static ProgressBar progressBar(String name, long total, long step) {
        return new ProgressBarBuilder().setTaskName(name).setInitialMax(total)
                .setUpdateIntervalMillis(500).continuousUpdate().build().stepTo(step);
    }
}
