package org.mha2mla.spark;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.SparkEnv;
import org.apache.spark.SparkFiles;
import org.mha2mla.evaluation.run.ProcessorEncoder;
import org.mha2mla.evaluation.run.RequestEncoder;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.LocalCalibration;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.trainer.ModelFolder;
import org.mha2mla.trainer.data.ModelProcessor;

/**
 * What an executor JVM keeps between tasks: loaded models for generation (one per task running at once, reused by
 * later tasks), and the calibration shares of running conversions with the model they share. Static, as Spark
 * executors run tasks as plain calls in one JVM; the driver's JVM is the executor in local mode.
 */
final class ExecutorState {

    /** A model folder ready to generate: its model and processor. */
    record Loaded(VisionLanguageModel model, RequestEncoder encoder) {
        void close() {
            encoder.close();
            model.close();
        }
    }

    private static final Map<String, Deque<Loaded>> IDLE = new HashMap<>();
    private static final List<Loaded> ALL = new ArrayList<>();

    /** One calibration share: its passes, how many calls they have made, and its run's model. */
    private static final class Share {
        final LocalCalibration passes;
        final Shared model;
        int calls;

        Share(LocalCalibration passes, Shared model) {
            this.passes = passes;
            this.model = model;
        }
    }

    /** A run's model, shared by its shares on this executor (the layer passes only read its mapped weights). */
    private static final class Shared {
        final VisionLanguageModel model;
        int shares;

        Shared(VisionLanguageModel model) {
            this.model = model;
        }
    }

    private static final Map<String, Share> SHARES = new HashMap<>();
    private static final Map<String, Shared> RUN_MODELS = new HashMap<>();

    private ExecutorState() {
    }

    // ---------------------------------------------------------------------------------------------------------
    // Generation

    /** An idle copy of the model folder at {@code path}, or a newly loaded one. */
    static Loaded borrow(String path) {
        synchronized (ExecutorState.class) {
            Deque<Loaded> idle = IDLE.get(path);
            if (idle != null && !idle.isEmpty()) return idle.pop();
        }
        Loaded l = new Loaded(VlmLoader.load(Path.of(path)), ProcessorEncoder.load(Path.of(path)));
        synchronized (ExecutorState.class) {
            ALL.add(l);
        }
        return l;
    }

    static synchronized void giveBack(String path, Loaded loaded) {
        IDLE.computeIfAbsent(path, k -> new ArrayDeque<>()).push(loaded);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Calibration

    /** Runs one calibration task (open, a call, or release) on this executor. */
    static Serializable calibrate(SparkCalibration.Task task) {
        if (task.call() instanceof SparkCalibration.Release) {
            release(task.key(), task.run());
            return new SparkCalibration.Done(null, location());
        }
        Share share;
        synchronized (ExecutorState.class) {
            share = SHARES.get(task.key());
        }
        if (task.call() == null) {
            if (share != null) release(task.key(), task.run()); // a retried open
            share = open(task);
            return new SparkCalibration.Opened(share.passes.samples(), share.passes.textTokens(), share.passes.visualTokens(), location());
        }
        if (share == null || share.calls != task.history().size()) {
            if (share != null) release(task.key(), task.run());
            share = open(task);
            for (SparkCalibration.Call c : task.history()) {
                c.apply(share.passes);
                share.calls++;
            }
        }
        Serializable result = task.call().apply(share.passes);
        share.calls++;
        return new SparkCalibration.Done(result, location());
    }

    /** Reads, processes and embeds the task's share of the samples with the run's model on this executor. */
    private static Share open(SparkCalibration.Task task) {
        CalibrationSpec spec = task.spec();
        Shared shared;
        synchronized (ExecutorState.class) {
            shared = RUN_MODELS.computeIfAbsent(task.run(), r -> new Shared(VlmLoader.load(Path.of(spec.model()))));
            shared.shares++;
        }
        try {
            Mha2MlaConverter.Options options = spec.options(Path.of(SparkFiles.getRootDirectory(), "mha2mla-spill"));
            LocalCalibration passes;
            try (ModelProcessor processor = ModelProcessor.load(Path.of(spec.model()))) {
                // the whole draw, as on one machine, and this task's share of it (encoded as the passes read it)
                List<MultimodalInput> draw = ModelFolder.calibrationDraw(Path.of(spec.model()), processor, Path.of(spec.calibration()),
                        spec.imageRootPath(), task.to(), spec.seed(), spec.maxLength(), System.out);
                synchronized (shared) { // the embedding runs the model's own vision tower and decoder: one share at a time
                    passes = Mha2MlaConverter.localPasses(shared.model, draw.subList(task.from(), task.to()), options, () -> { });
                }
            }
            Share share = new Share(passes, shared);
            synchronized (ExecutorState.class) {
                SHARES.put(task.key(), share);
            }
            return share;
        } catch (RuntimeException e) {
            dropModel(task.run(), shared);
            throw e;
        }
    }

    private static void release(String key, String run) {
        Share share;
        synchronized (ExecutorState.class) {
            share = SHARES.remove(key);
        }
        if (share == null) return;
        share.passes.close();
        dropModel(run, share.model);
    }

    private static void dropModel(String run, Shared shared) {
        boolean last;
        synchronized (ExecutorState.class) {
            last = --shared.shares == 0;
            if (last) RUN_MODELS.remove(run);
        }
        if (last) shared.model.close();
    }

    /** This executor as a Spark task location ({@code executor_<host>_<id>}), what the driver pins the share's next task to. */
    static String location() {
        SparkEnv env = SparkEnv.get();
        return "executor_" + env.blockManager().blockManagerId().host() + "_" + env.executorId();
    }

    /** Closes everything this JVM holds (the embedded local mode, when its application ends). */
    static void releaseAll() {
        List<Share> shares;
        List<Shared> models;
        List<Loaded> loaded;
        synchronized (ExecutorState.class) {
            shares = new ArrayList<>(SHARES.values());
            models = new ArrayList<>(RUN_MODELS.values());
            loaded = new ArrayList<>(ALL);
            SHARES.clear();
            RUN_MODELS.clear();
            IDLE.clear();
            ALL.clear();
        }
        shares.forEach(s -> s.passes.close());
        models.forEach(m -> m.model.close());
        loaded.forEach(Loaded::close);
    }
}
