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
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import org.mha2mla.core.Limits;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.OutputFolder;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.trainer.data.ExampleEncoder;
import org.mha2mla.trainer.data.ExampleStream;
import org.mha2mla.trainer.data.InstructDataset;
import org.mha2mla.trainer.data.TrainingExample;

/**
 * {@code mha2mla train}: one PEFT stage from a model folder and a LLaVA-instruct file to a trained model folder.
 * The loop, as nanoGPT's: take the step's examples, LR from the schedule, one {@link PeftStage#step}, log,
 * checkpoint now and then. {@code out/} becomes a model folder loadable like the input; {@code out/training/}
 * holds checkpoints, {@code loss.csv}, {@code loss_curve.png} and {@code options.json}.
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
        Path trainingDir = folder.dir().resolve("training");
        Path checkpointDir = trainingDir.resolve("checkpoints");
        try (TrainableModel model = TrainableModel.load(o.model())) {
            PeftStage stage = new PeftStage(model, o.freezeMask(), o.adam(), o.maxGradNorm());
            log.println(stage.summary());
            LrSchedule schedule = o.schedule();
            ExampleStream data = new ExampleStream(dataset, encoder, maxLength, model.imageTokenId());

            long step = 0;
            long tokens = 0;
            double elapsedBefore = 0;
            Optional<Path> latest = TrainingCheckpoint.latest(checkpointDir);
            if (latest.isPresent() && !o.resume()) {
                throw new IllegalStateException(checkpointDir + " already holds a checkpoint: continue it with --resume, choose another --out, "
                        + "or start over with --overwrite");
            }
            if (latest.isPresent()) {
                TrainingCheckpoint.Loaded ckpt = TrainingCheckpoint.load(latest.get());
                checkResumable(ckpt, stage, schedule, o);
                stage.restore(ckpt);
                data.restore(ckpt.state().data());
                step = ckpt.state().step();
                tokens = ckpt.state().tokens();
                elapsedBefore = ckpt.state().elapsedSeconds();
                log.println("resumed from " + latest.get() + " at step " + step);
            }
            writeOptions(o, trainingDir);

            long stopAt = o.stopAfter() > 0 ? Math.min(o.steps(), step + o.stopAfter()) : o.steps();
            List<LossLog.Row> rows = new ArrayList<>();
            long start = System.nanoTime();
            try (LossLog lossLog = LossLog.open(trainingDir.resolve("loss.csv"), step);
                 ProgressBar bar = o.progress() ? progressBar(o, step) : null) {
                while (step < stopAt) {
                    long t0 = System.nanoTime();
                    List<MicroBatch> batches = new ArrayList<>();
                    for (int a = 0; a < o.gradAccumulation(); a++) {
                        List<TrainingExample> examples = new ArrayList<>();
                        for (int b = 0; b < o.microBatchSize(); b++) examples.add(data.next());
                        batches.add(MicroBatch.of(model, examples));
                    }
                    double lr = schedule.lr(step);
                    PeftStage.StepResult r = stage.step(batches, lr);
                    step++;
                    if (r.skipped()) log.println(GradientClipping.skipWarning(o.freezeMask().name() + " update " + step, r.loss(), r.nonFinite()));
                    tokens += r.tokens();
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    double elapsed = elapsedBefore + (System.nanoTime() - start) / 1e9;
                    LossLog.Row row = new LossLog.Row(step, r.loss(), lr, r.gradNorm(), r.tokens(), r.tokens() / seconds, elapsed);
                    lossLog.append(row);
                    rows.add(row);
                    if (bar != null) {
                        bar.stepTo(step);
                        bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f lr %.2e %.0f tok/s", r.loss(), lr, row.tokensPerSecond()));
                    }
                    if ((o.checkpointEvery() > 0 && step % o.checkpointEvery() == 0) || step == stopAt) {
                        TrainingCheckpoint.State s = new TrainingCheckpoint.State(step, o.freezeMask().name(), stage.trainable(),
                                schedule, o.adam(), o.seed(), data.state(), tokens, elapsed);
                        TrainingCheckpoint.write(checkpointDir, s, stage.trainableParams(), stage.optimizer(), o.keepCheckpoints());
                    }
                }
                lossLog.writeCurve(trainingDir.resolve("loss_curve.png"),
                        o.freezeMask().name() + " — " + o.model().getFileName());
            }
            boolean finished = step == o.steps();
            if (finished) {
                DType dtype = o.saveDtype() != null ? o.saveDtype() : ModelFolder.inputDtype(o.model());
                ModelFolder.write(model.model().weights(), stage.trainableParams(), o.model(), folder.dir(), dtype);
                Path written = folder.commit();
                log.println("wrote " + written + " (" + dtype + "); data: " + data.summary());
            }
            return new Result(rows, step, finished, stage.summary(), data.state());
        }
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

    private static ProgressBar progressBar(TrainOptions o, long step) {
        return new ProgressBarBuilder().setTaskName(o.freezeMask().name()).setInitialMax(o.steps())
                .setUpdateIntervalMillis(500).continuousUpdate().build().stepTo(step);
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
