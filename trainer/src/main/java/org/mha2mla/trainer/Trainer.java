package org.mha2mla.trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.mha2mla.core.Limits;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.OutputFolder;
import org.mha2mla.importers.config.HfConfigParser;
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
        VlmConfig config = HfConfigParser.read(o.model());
        Mha2MlaConfig conversion = HfConfigParser.readConversion(o.model());
        InstructDataset dataset = InstructDataset.load(o.data(), o.imageRoot(), o.seed());
        if (o.microBatchSize() > dataset.size()) {
            throw new IllegalArgumentException("--batch " + o.microBatchSize() + " is more than the " + dataset.size() + " samples of " + o.data());
        }
        int maxLength = sequenceCap(o, config, log);
        requireStageFits(o, maxLength, config, conversion);
        OutputFolder folder = OutputFolder.of("train", o.out()).input("--model", o.model()).input("--data", o.data())
                .input("--image-root", o.imageRoot()).resumable(true).resume(o.resume()).overwrite(o.overwrite())
                .earlierOutput(dir -> Files.isRegularFile(dir.resolve("training").resolve("options.json"))).open();
        Job job = new Job(o, encoder, log, dataset, maxLength, folder.dir());
        FreezeMask mask = o.freezeMask();
        Result r;
        try (VisionLanguageModel model = VlmLoader.load(o.model())) {
            GradientSource.Kind kind = o.gradients().choose(model, mask);
            try (GradientSource source = kind.open(model, mask)) {
                r = trainWithSource(job, model, mask, kind, source);
            }
        }
        // After the stage closed: its moment file (if any) is gone before the folder moves into place.
        if (r.finished()) log.println("wrote " + folder.commit());
        return r;
    }

    /** One invocation's inputs: the options, the data and the folder being written ({@code dir}: --out or its partial sibling). */
    private record Job(TrainOptions o, ExampleEncoder encoder, PrintStream log, InstructDataset dataset, int maxLength, Path dir) {
        Path trainingDir() {
            return dir.resolve("training");
        }

        Path checkpointDir() {
            return trainingDir().resolve("checkpoints");
        }
    }

    /** The stage over {@code source}, with the optimizer's moments on disk when they would not fit ({@link AdamW#momentsOnDisk}). */
    private static Result trainWithSource(Job job, VisionLanguageModel model, FreezeMask mask, GradientSource.Kind kind,
                                          GradientSource source) {
        TrainOptions o = job.o();
        long trainable = source.trainable().values().stream().mapToLong(a -> a.length()).sum();
        Path moments = AdamW.momentsOnDisk(trainable, GradientSource.physicalMemory()) ? job.trainingDir().resolve("adamw-moments.f32") : null;
        try (PeftStage stage = new PeftStage(source, mask, o.adam(), o.maxGradNorm(), moments)) {
            job.log().println(stage.summary() + "; gradients " + kind.description()
                    + (source instanceof ReplicatedGradients r ? " on " + r.replicas().size() + " replicas" : "")
                    + (moments == null ? "" : String.format(java.util.Locale.ROOT, "; AdamW moments on disk (%.1f GB, %s)", 8e-9 * trainable, moments)));
            return trainStage(job, model, mask, stage, kind == GradientSource.Kind.LAYERS);
        }
    }

    /**
     * Resume, the loop, and the trained model written into the job's folder; {@code collectGarbage} (for the
     * layer-by-layer source, whose per-layer passes leave the most off-heap garbage) as
     * {@link TrainingLoop.Settings#collectGarbage}.
     */
    private static Result trainStage(Job job, VisionLanguageModel model, FreezeMask mask, PeftStage stage, boolean collectGarbage) {
        TrainOptions o = job.o();
        PrintStream log = job.log();
        ExampleStream data = new ExampleStream(job.dataset(), job.encoder(), job.maxLength(), model.config().imageTokenId());

        TrainingLoop.Start start = TrainingLoop.Start.FRESH;
        Optional<Path> latest = TrainingCheckpoint.latest(job.checkpointDir());
        if (latest.isPresent() && !o.resume()) {
            throw new IllegalStateException(job.checkpointDir() + " already holds a checkpoint: continue it with --resume, choose another --out, "
                    + "or start over with --overwrite");
        }
        if (latest.isPresent()) {
            TrainingCheckpoint.Loaded ckpt = TrainingCheckpoint.load(latest.get());
            checkResumable(ckpt, stage, o.schedule(), o);
            stage.restore(ckpt);
            data.restore(ckpt.state().data());
            start = new TrainingLoop.Start(ckpt.state().step(), ckpt.state().tokens(), ckpt.state().elapsedSeconds());
            log.println("resumed from " + latest.get() + " at step " + start.step());
        }
        writeOptions(o, job.trainingDir());

        TrainingLoop.Settings settings = TrainingLoop.Settings.builder(mask.name(), o.steps(), total -> o.schedule(),
                        job.trainingDir().resolve("loss.csv"))
                .stopAfter(o.stopAfter()).microBatchSize(o.microBatchSize()).gradAccumulation(o.gradAccumulation())
                .curve(job.trainingDir().resolve("loss_curve.png"), mask.name() + " — " + o.model().getFileName())
                .checkpoints(job.checkpointDir(), o.checkpointEvery(), o.keepCheckpoints()).adam(o.adam()).seed(o.seed())
                .progress(o.progress()).collectGarbage(collectGarbage).build();
        TrainingLoop.Result r = TrainingLoop.run(stage, data, settings, start, log);
        if (!r.rows().isEmpty()) log.println(lossSummary(mask.name(), r.rows(), job.trainingDir().resolve("loss.csv")));
        if (r.finished()) {
            DType dtype = o.saveDtype() != null ? o.saveDtype() : ModelFolder.inputDtype(o.model());
            ModelFolder.write(model.weights(), stage.trainableParams(), o.model(), job.dir(), dtype);
            log.println("trained model saved (" + dtype + "); data: " + data.summary());
        }
        return new Result(r.rows(), r.step(), r.finished(), stage.summary(), data.state());
    }

    /**
     * One line on the updates this run made (the figures a run without the progress bar shows nowhere else), e.g.
     * {@code stage2: updates 1–2, loss 12.4370 → 9.0160, last gradient norm 86.9, 1.3 tokens/s; every update in …/loss.csv}.
     */
    static String lossSummary(String name, List<LossLog.Row> rows, Path lossCsv) {
        LossLog.Row first = rows.get(0);
        LossLog.Row last = rows.get(rows.size() - 1);
        double tokens = rows.stream().mapToDouble(LossLog.Row::tokens).sum();
        double seconds = rows.stream().mapToDouble(row -> row.tokensPerSecond() > 0 ? row.tokens() / row.tokensPerSecond() : 0).sum();
        return String.format(Locale.ROOT, "%s: updates %d–%d, loss %.4f → %.4f, last gradient norm %.3g, %.1f tokens/s; every update in %s",
                name, first.step(), last.step(), first.loss(), last.loss(), last.gradNorm(), seconds > 0 ? tokens / seconds : 0, lossCsv);
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

    /**
     * What the model and the options must agree on before any work: stage 2 trains the MLA parameters, so the model
     * must be converted to MLA (otherwise only q_proj matches the preset); a micro-batch at the sequence cap must fit
     * one attention mask array and, for one layer's attention scores, the machine's memory.
     */
    static void requireStageFits(TrainOptions o, int maxLength, VlmConfig config, Mha2MlaConfig conversion) {
        if (o.trainablePatterns() == null && o.stage() == 2 && (conversion == null || !conversion.isMla())) {
            throw new IllegalArgumentException("--stage 2 trains the MLA parameters, but " + o.model() + " is not an MLA model ("
                    + (conversion == null ? "an original model" : "partial RoPE only") + "); convert it first with `mha2mla convert --step "
                    + (conversion == null ? "all" : "svd") + "`");
        }
        String what = "--batch " + o.microBatchSize() + " at --max-length " + maxLength;
        Limits.requireAttentionMask(what, o.microBatchSize(), maxLength, maxLength);
        Limits.requireAttentionMemory(what, o.microBatchSize(), config.textConfig().numAttentionHeads(), maxLength);
    }

    /** The sequence cap: {@code --max-length}, lowered (and said so) to the model's max_position_embeddings. */
    static int sequenceCap(TrainOptions o, VlmConfig config, PrintStream log) {
        int positions = config.textConfig().maxPositionEmbeddings();
        if (o.maxLength() <= positions) return o.maxLength();
        log.println("--max-length " + o.maxLength() + " lowered to the model's max_position_embeddings (" + positions + ")");
        return positions;
    }

    private static void writeOptions(TrainOptions o, Path trainingDir) {
        try {
            Files.createDirectories(trainingDir);
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
                    .writeValue(trainingDir.resolve("options.json").toFile(), o);
        } catch (IOException e) {
            throw new UncheckedIOException(trainingDir + ": cannot write options.json", e);
        }
    }
}
