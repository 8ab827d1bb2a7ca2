package org.mha2mla.trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.trainer.data.ExampleEncoder;
import org.mha2mla.trainer.data.ExampleStream;
import org.mha2mla.trainer.data.InstructDataset;

/**
 * {@code mha2mla train}: one PEFT stage from a model folder and a LLaVA-instruct file to a trained model folder.
 * The stage's gradients come from the source {@link TrainOptions#gradients} names ({@link GradientSource.Kind#choose}:
 * the whole graph for models that fit, layer by layer for the rest), the updates from {@link TrainingLoop}; a resumed run
 * continues bitwise where its checkpoint stopped. {@code out/} becomes a model folder loadable like the input;
 * {@code out/training/} holds checkpoints, {@code loss.csv}, {@code loss_curve.png} and {@code options.json}.
 */
public final class Trainer {

    /**
     * What a run did.
     *
     * @param rows     this invocation's log rows (full precision), one per update
     * @param step     updates done in total (across resumes)
     * @param finished whether the run reached {@code steps} (and wrote the model folder)
     * @param summary  the freeze mask's "trainable X / total Y (Z%)"
     * @param data     the example stream's final state (counts of truncated and dropped samples)
     */
    public record Result(List<LossLog.Row> rows, long step, boolean finished, String summary, ExampleStream.State data) {
    }

    private Trainer() {
    }

    /** Trains with {@code encoder} turning data records into model input (the model's processor and chat template). */
    public static Result run(TrainOptions o, ExampleEncoder encoder) {
        return run(o, encoder, System.out);
    }

    public static Result run(TrainOptions o, ExampleEncoder encoder, PrintStream log) {
        FreezeMask mask = o.freezeMask();
        try (VisionLanguageModel model = VlmLoader.load(o.model())) {
            GradientSource.Kind kind = o.gradients().choose(model, mask);
            try (GradientSource source = kind.open(model, mask)) {
                return trainWithSource(o, encoder, log, model, mask, kind, source);
            }
        }
    }

    /** The stage over {@code source}, with the optimizer's moments on disk when they would not fit ({@link AdamW#momentsOnDisk}). */
    private static Result trainWithSource(TrainOptions o, ExampleEncoder encoder, PrintStream log, VisionLanguageModel model,
                                          FreezeMask mask, GradientSource.Kind kind, GradientSource source) {
        long trainable = source.trainable().values().stream().mapToLong(a -> a.length()).sum();
        Path moments = AdamW.momentsOnDisk(trainable, GradientSource.physicalMemory()) ? o.trainingDir().resolve("adamw-moments.f32") : null;
        try (PeftStage stage = new PeftStage(source, mask, o.adam(), o.maxGradNorm(), moments)) {
            log.println(stage.summary() + "; gradients " + kind.description()
                    + (moments == null ? "" : String.format(java.util.Locale.ROOT, "; AdamW moments on disk (%.1f GB, %s)", 8e-9 * trainable, moments)));
            return trainStage(o, encoder, log, model, mask, stage, kind == GradientSource.Kind.LAYERS);
        }
    }

    /**
     * Resume, the loop, and the trained folder; {@code collectGarbage} (for the layer-by-layer source, whose per-layer
     * passes leave the most off-heap garbage) as {@link TrainingLoop.Settings#collectGarbage}.
     */
    private static Result trainStage(TrainOptions o, ExampleEncoder encoder, PrintStream log, VisionLanguageModel model, FreezeMask mask,
                                     PeftStage stage, boolean collectGarbage) {
        ExampleStream data = new ExampleStream(InstructDataset.load(o.data(), o.imageRoot(), o.seed()), encoder,
                o.maxLength(), model.config().imageTokenId());

        TrainingLoop.Start start = TrainingLoop.Start.FRESH;
        Optional<Path> latest = TrainingCheckpoint.latest(o.checkpointDir());
        if (latest.isPresent() && !o.resume()) {
            throw new IllegalStateException(o.checkpointDir() + " already holds a checkpoint: resume it or choose another --out");
        }
        if (latest.isPresent()) {
            TrainingCheckpoint.Loaded ckpt = TrainingCheckpoint.load(latest.get());
            checkResumable(ckpt, stage, o.schedule(), o);
            stage.restore(ckpt);
            data.restore(ckpt.state().data());
            start = new TrainingLoop.Start(ckpt.state().step(), ckpt.state().tokens(), ckpt.state().elapsedSeconds());
            log.println("resumed from " + latest.get() + " at step " + start.step());
        }
        writeOptions(o);

        TrainingLoop.Settings settings = TrainingLoop.Settings.builder(mask.name(), o.steps(), total -> o.schedule(),
                        o.trainingDir().resolve("loss.csv"))
                .stopAfter(o.stopAfter()).microBatchSize(o.microBatchSize()).gradAccumulation(o.gradAccumulation())
                .curve(o.trainingDir().resolve("loss_curve.png"), mask.name() + " — " + o.model().getFileName())
                .checkpoints(o.checkpointDir(), o.checkpointEvery(), o.keepCheckpoints()).adam(o.adam()).seed(o.seed())
                .progress(o.progress()).collectGarbage(collectGarbage).build();
        TrainingLoop.Result r = TrainingLoop.run(stage, data, settings, start, log);
        if (r.finished()) {
            DType dtype = o.saveDtype() != null ? o.saveDtype() : ModelFolder.inputDtype(o.model());
            ModelFolder.write(model.weights(), stage.trainableParams(), o.model(), o.out(), dtype);
            log.println("wrote " + o.out() + " (" + dtype + "); data: " + data.summary());
        }
        return new Result(r.rows(), r.step(), r.finished(), stage.summary(), data.state());
    }

    /** A resumed run must train the same parameters on the same schedule and data order, or the losses diverge. */
    private static void checkResumable(TrainingCheckpoint.Loaded ckpt, PeftStage stage, LrSchedule schedule, TrainOptions o) {
        TrainingCheckpoint.State s = ckpt.state();
        List<String> problems = new ArrayList<>();
        if (!s.trainable().equals(stage.trainable())) problems.add("trainable parameters differ");
        if (!s.schedule().equals(schedule)) problems.add("LR schedule " + s.schedule() + " vs " + schedule);
        if (!s.adam().equals(o.adam())) problems.add("AdamW " + s.adam() + " vs " + o.adam());
        if (s.seed() != o.seed()) problems.add("seed " + s.seed() + " vs " + o.seed());
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(ckpt.dir() + ": cannot resume with these options: " + String.join("; ", problems));
        }
    }

    private static void writeOptions(TrainOptions o) {
        try {
            Files.createDirectories(o.trainingDir());
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
                    .writeValue(o.trainingDir().resolve("options.json").toFile(), o);
        } catch (IOException e) {
            throw new UncheckedIOException(o.trainingDir() + ": cannot write options.json", e);
        }
    }
}
