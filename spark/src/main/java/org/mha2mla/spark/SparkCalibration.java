package org.mha2mla.spark;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.function.BinaryOperator;

import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.ModalityCovariance;
import org.mha2mla.layers.mla.CalibrationPasses;
import org.mha2mla.layers.mla.LocalCalibration;

/**
 * {@link CalibrationPasses} spread over Spark executors. The samples are cut into contiguous shares, one partition
 * each; a partition's share is a {@link LocalCalibration} that lives on one executor (in {@link ExecutorState}, keyed
 * by this run and the partition) from the first job to the last, its activations advancing layer by layer there as they
 * would on one machine. Each call of the {@link org.mha2mla.layers.mla.Conversion} driving it is one Spark job over the
 * partitions, each task pinned to the executor holding its share; the tasks return their share's statistics, which
 * the driver adds up in partition order (pair scores, KL sums and covariances are sums over samples, so the result is
 * the single-machine one up to float64 summation order).
 *
 * <p>Every task carries the calls made so far. A task that lands where its share is not held, or finds it at another
 * call (an executor was lost, or a task retried after it had advanced the share), opens the share again and replays
 * those calls before its own: slower, never different.
 */
final class SparkCalibration implements CalibrationPasses {

    private final SparkJobs.Jobs jobs;
    private final String run = UUID.randomUUID().toString();
    private final CalibrationSpec spec;
    private final int[] from;
    private final int[] to;
    private final List<String> locations = new ArrayList<>();
    private final List<Call> calls = new ArrayList<>();
    private final Runnable onSample;
    private final int samples;
    private long textTokens;
    private long visualTokens;

    /** Opens the shares: each executor task reads, processes and embeds its samples. */
    SparkCalibration(SparkJobs.Jobs jobs, CalibrationSpec spec, int samples, int shares, Runnable onSample) {
        this.jobs = jobs;
        this.spec = spec;
        this.samples = samples;
        this.onSample = onSample;
        this.from = new int[shares];
        this.to = new int[shares];
        for (int p = 0; p < shares; p++) {
            from[p] = (int) ((long) samples * p / shares);
            to[p] = (int) ((long) samples * (p + 1) / shares);
        }
        Opened[] opened = new Opened[shares];
        jobs.run(tasks(null), null, ExecutorState::calibrate, (p, r) -> opened[p] = (Opened) r);
        int held = 0;
        for (int p = 0; p < shares; p++) {
            locations.add(opened[p].location());
            textTokens += opened[p].textTokens();
            visualTokens += opened[p].visualTokens();
            held += opened[p].samples();
        }
        if (held != samples) throw new IllegalStateException("the executors hold " + held + " calibration samples, expected " + samples);
    }

    @Override
    public int samples() {
        return samples;
    }

    @Override
    public long textTokens() {
        return textTokens;
    }

    @Override
    public long visualTokens() {
        return visualTokens;
    }

    @Override
    public PairScores scorePairs(int layer, RopeStrategy scoring) {
        return call(new ScorePairs(layer, scoring), PairScores::merge, true);
    }

    @Override
    public KlSum attentionKl(int layer, int[][] keptPairs) {
        return call(new AttentionKl(layer, copy(keptPairs)), KlSum::merge, false);
    }

    @Override
    public ModalityCovariance kvInputCovariance(int layer, int[][] keptPairs) {
        return call(new KvInputCovariance(layer, copy(keptPairs)), ModalityCovariance::addAll, true);
    }

    /**
     * One job: {@code call} on every share where it lives; the shares' results added up in partition order.
     *
     * @param passesLayer whether the call runs a layer over the samples (the progress bar steps once per sample)
     */
    @SuppressWarnings("unchecked")
    private <R> R call(Call call, BinaryOperator<R> merge, boolean passesLayer) {
        Object[] results = new Object[from.length];
        jobs.run(tasks(call), locations, ExecutorState::calibrate, (p, r) -> {
            results[p] = ((Done) r).result();
            locations.set(p, ((Done) r).location()); // where the share lives now (another executor after a replay)
            if (passesLayer) for (int i = from[p]; i < to[p]; i++) onSample.run();
        });
        calls.add(call);
        R sum = (R) results[0];
        for (int p = 1; p < results.length; p++) sum = merge.apply(sum, (R) results[p]);
        return sum;
    }

    /** The tasks of one job: {@code call} (null: open) after the calls so far. */
    private List<Task> tasks(Call call) {
        List<Task> tasks = new ArrayList<>();
        List<Call> history = List.copyOf(calls);
        for (int p = 0; p < from.length; p++) tasks.add(new Task(run, p, spec, from[p], to[p], history, call));
        return tasks;
    }

    private static int[][] copy(int[][] a) {
        int[][] c = new int[a.length][];
        for (int i = 0; i < a.length; i++) c[i] = a[i].clone();
        return c;
    }

    /** Releases the shares on their executors. */
    @Override
    public void close() {
        jobs.run(tasks(new Release()), locations, ExecutorState::calibrate, (p, r) -> { });
    }

    @Override
    public String toString() {
        return "calibration " + run + " over " + samples + " samples in shares " + Arrays.toString(to);
    }

    // ---------------------------------------------------------------------------------------------------------
    // What travels: tasks, calls and their results

    /**
     * Partition {@code partition}'s part of one job: its share (samples {@code from} to {@code to} of the spec's
     * calibration file), the calls made so far, and the call to make (null: open the share).
     */
    record Task(String run, int partition, CalibrationSpec spec, int from, int to, List<Call> history, Call call)
            implements Serializable {

        String key() {
            return run + "/" + partition;
        }
    }

    /** One of the conversion's calls on a share, made again when a share is replayed. */
    sealed interface Call extends Serializable permits ScorePairs, AttentionKl, KvInputCovariance, Release {
        Serializable apply(CalibrationPasses passes);
    }

    record ScorePairs(int layer, RopeStrategy scoring) implements Call {
        @Override
        public Serializable apply(CalibrationPasses passes) {
            return passes.scorePairs(layer, scoring);
        }
    }

    record AttentionKl(int layer, int[][] keptPairs) implements Call {
        @Override
        public Serializable apply(CalibrationPasses passes) {
            return passes.attentionKl(layer, keptPairs);
        }
    }

    record KvInputCovariance(int layer, int[][] keptPairs) implements Call {
        @Override
        public Serializable apply(CalibrationPasses passes) {
            return passes.kvInputCovariance(layer, keptPairs);
        }
    }

    /** The end of the run: the share is closed (never replayed). */
    record Release() implements Call {
        @Override
        public Serializable apply(CalibrationPasses passes) {
            throw new IllegalStateException("release is not a calibration pass");
        }
    }

    /** An opened share: its samples and tokens, and the executor holding it ({@code executor_<host>_<id>}). */
    record Opened(int samples, long textTokens, long visualTokens, String location) implements Serializable {
    }

    /** A call's result on one share, and the executor holding the share. */
    record Done(Serializable result, String location) implements Serializable {
    }
}
