package org.mha2mla.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import org.mha2mla.Mha2Mla;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.trainer.AdamW;
import org.mha2mla.trainer.GradientSource;
import org.mha2mla.trainer.LrSchedule;
import org.mha2mla.trainer.TrainOptions;
import org.mha2mla.trainer.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = "One parameter-efficient fine-tuning stage of MHA2MLA-VLM: stage 1 trains the query/key projections of a "
                + "partial-RoPE model, stage 2 the MLA parameters of a converted model. --out becomes a model folder "
                + "loadable like --model; checkpoints, loss.csv and loss_curve.png go to --out/training.")
final class TrainCommand implements Callable<Integer> {

    @Option(names = "--stage", required = true, description = "1 (after partial RoPE) or 2 (after MD-SVD).")
    int stage;

    @Option(names = "--model", required = true, description = "Input model folder.")
    Path model;

    @Option(names = "--data", required = true, description = "LLaVA-instruct JSON (image path + human/gpt conversations).")
    Path data;

    @Option(names = "--image-root", description = "Folder the data's image paths are relative to (default: the JSON's folder).")
    Path imageRoot;

    @Option(names = "--out", required = true, description = "Output model folder.")
    Path out;

    @Option(names = "--steps", defaultValue = "1000", description = "Optimizer updates (default ${DEFAULT-VALUE}).")
    long steps;

    @Option(names = "--stop-after", defaultValue = "0", description = "Stop with a checkpoint after this many updates (0: run to the end).")
    long stopAfter;

    @Option(names = "--lr", defaultValue = "1e-4", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--min-lr", defaultValue = "0", description = "Learning rate at the end of the decay (default ${DEFAULT-VALUE}).")
    double minLr;

    @Option(names = "--warmup", defaultValue = "0.1", description = "Fraction of steps of linear warmup (default ${DEFAULT-VALUE}).")
    double warmup;

    @Option(names = "--decay-fraction", defaultValue = "0.1", description = "Fraction of steps of final decay (default ${DEFAULT-VALUE}).")
    double decayFraction;

    @Option(names = "--decay", defaultValue = "COSINE", description = "Decay curve: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}).")
    LrSchedule.Decay decay;

    @Option(names = "--batch", defaultValue = "1", description = "Examples per forward/backward pass (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-batches per update (default ${DEFAULT-VALUE}).")
    int gradAccum;

    @Option(names = "--max-length", defaultValue = "2048", description = "Sequence-length cap in tokens (default ${DEFAULT-VALUE}).")
    int maxLength;

    @Option(names = "--weight-decay", defaultValue = "0", description = "Decoupled (AdamW) weight decay (default ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Global gradient-norm clip, 0 = off (default ${DEFAULT-VALUE}).")
    double maxGradNorm;

    @Option(names = "--seed", defaultValue = "42", description = "Data-order seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--checkpoint-every", defaultValue = "0", description = "Checkpoint every N updates (0: only at the end or stop).")
    long checkpointEvery;

    @Option(names = "--keep-checkpoints", defaultValue = "2", description = "Checkpoints kept on disk (default ${DEFAULT-VALUE}).")
    int keepCheckpoints;

    @Option(names = "--resume", description = "Continue from the checkpoints under --out/training.")
    boolean resume;

    @Option(names = "--trainable", split = ",", description = "Glob patterns of the parameters to train instead of the stage's preset.")
    List<String> trainable;

    @Option(names = "--save-dtype", description = "Storage dtype of the output weights: F32, F16 or BF16 (default: the input's).")
    DType saveDtype;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Option(names = "--gradients", defaultValue = "AUTO", converter = GradientsConverter.class,
            description = "Gradient source: graph (the whole decoder as one graph), layers (one layer at a time, for models "
                    + "larger than memory) or auto (graph while the decoder's float32 weights fit an eighth of the memory; "
                    + "default ${DEFAULT-VALUE}).")
    GradientSource.Kind gradients;

    /** {@code auto}, {@code graph}, {@code layers} in any case. */
    static final class GradientsConverter implements picocli.CommandLine.ITypeConverter<GradientSource.Kind> {
        @Override
        public GradientSource.Kind convert(String value) {
            try {
                return GradientSource.Kind.valueOf(value.toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.TypeConversionException("--gradients must be auto, graph or layers, not '" + value + "'");
            }
        }
    }

    @Option(names = "--overwrite", description = "Replace --out even if it is a non-empty folder train did not write, or start over "
            + "in train's own folder (the old folder is kept until the new model is complete).")
    boolean overwrite;

    @Override
    public Integer call() {
        TrainOptions options = TrainOptions.builder(stage, model, data, out)
                .trainablePatterns(trainable).imageRoot(imageRoot).steps(steps).stopAfter(stopAfter).lr(lr).minLr(minLr)
                .warmupFraction(warmup).decayFraction(decayFraction).decay(decay).microBatchSize(batch).gradAccumulation(gradAccum)
                .maxLength(maxLength).adam(AdamW.Config.defaults(weightDecay)).maxGradNorm(maxGradNorm).seed(seed)
                .checkpointEvery(checkpointEvery).keepCheckpoints(keepCheckpoints).resume(resume).saveDtype(saveDtype)
                .progress(!noProgress).gradients(gradients).overwrite(overwrite).build();
        ModelWarnings.print(model);
        Trainer.Result r = Mha2Mla.train(options);
        if (!r.finished()) {
            System.out.println("stopped at step " + r.step() + " of " + steps + "; continue with --resume");
        }
        return 0;
    }
}
