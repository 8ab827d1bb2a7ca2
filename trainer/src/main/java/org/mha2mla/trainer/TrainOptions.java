package org.mha2mla.trainer;

import java.nio.file.Path;
import java.util.List;

import org.mha2mla.core.Limits;
import org.mha2mla.importers.safetensors.DType;

/**
 * Everything one training run takes (the CLI's {@code mha2mla train} flags map one to one).
 *
 * @param stage             1 (q/k projections after partial RoPE) or 2 (MLA parameters after MD-SVD)
 * @param trainablePatterns null: the stage's preset ({@link FreezeMask#STAGE1}/{@link FreezeMask#STAGE2}); else
 *                          the globs of the parameters that train
 * @param model             input model folder (config.json, safetensors, tokenizer and processor files)
 * @param data              LLaVA-instruct JSON
 * @param imageRoot         folder the JSON's image paths are relative to; null: the JSON's folder
 * @param out               output model folder; training state goes to {@code out/training}
 * @param steps             optimizer updates of the whole run (the LR schedule spans them)
 * @param stopAfter         stop (with a checkpoint) after this many updates in this invocation; 0: run to the end
 * @param lr                peak learning rate
 * @param minLr             learning rate at the end of the decay
 * @param warmupFraction    fraction of {@code steps} of linear warmup (paper: 0.1)
 * @param decayFraction     fraction of {@code steps} of final decay (paper: 0.1)
 * @param decay             decay curve
 * @param microBatchSize    examples per forward/backward pass (right-padded)
 * @param gradAccumulation  micro-batches per optimizer update
 * @param maxLength         sequence-length cap in tokens (longer samples truncated; dropped if an image is cut)
 * @param adam              AdamW betas, eps, decoupled weight decay
 * @param maxGradNorm       global gradient-norm clip (0: off)
 * @param seed              data-order seed
 * @param checkpointEvery   checkpoint every this many updates (0: only when stopping or finishing)
 * @param keepCheckpoints   checkpoints kept on disk (the newest)
 * @param resume            continue from {@code out/training/checkpoints} if a checkpoint is there
 * @param saveDtype         storage dtype of the output model.safetensors; null: that of the input model
 * @param progress          show a progress bar on stderr
 * @param gradients         the gradient source: the whole graph, layer by layer, or chosen by the model's size
 *                          ({@link GradientSource.Kind#choose})
 * @param overwrite         replace {@code out} even when it is a non-empty folder {@code train} did not write
 *                          ({@link org.mha2mla.importers.OutputFolder}); it is kept until the new model is complete
 */
public record TrainOptions(int stage, List<String> trainablePatterns, Path model, Path data, Path imageRoot, Path out,
                           long steps, long stopAfter, double lr, double minLr, double warmupFraction, double decayFraction,
                           LrSchedule.Decay decay, int microBatchSize, int gradAccumulation, int maxLength, AdamW.Config adam,
                           double maxGradNorm, long seed, long checkpointEvery, int keepCheckpoints, boolean resume,
                           DType saveDtype, boolean progress, GradientSource.Kind gradients, boolean overwrite) {

    public TrainOptions {
        if (trainablePatterns == null && stage != 1 && stage != 2) {
            throw new IllegalArgumentException("--stage must be 1 or 2 (or give --trainable patterns), got " + stage);
        }
        Limits.requireAtLeast("--steps", steps, 1);
        Limits.requireAtLeast("--stop-after", stopAfter, 0);
        Limits.requireAtLeast("--batch", microBatchSize, 1);
        Limits.requireAtLeast("--grad-accum", gradAccumulation, 1);
        Limits.requireAtLeast("--keep-checkpoints", keepCheckpoints, 1);
        Limits.requireAtLeast("--checkpoint-every", checkpointEvery, 0);
        Limits.requireAtLeast("--max-length", maxLength, 2);
        // A non-finite rate writes a model of NaN/Inf weights with exit code 0.
        Limits.requirePositive("--lr", lr);
        Limits.requireFinite("--min-lr", minLr, 0, lr);
        Limits.requireFinite("--warmup", warmupFraction, 0, 1);
        Limits.requireFinite("--decay-fraction", decayFraction, 0, 1);
        if (warmupFraction + decayFraction > 1) {
            throw new IllegalArgumentException("--warmup " + warmupFraction + " plus --decay-fraction " + decayFraction + " exceed the run (at most 1)");
        }
        Limits.requireFiniteAtLeast("--weight-decay", adam.weightDecay(), 0);
        Limits.requireFiniteAtLeast("--max-grad-norm", maxGradNorm, 0);
        if (saveDtype != null && saveDtype != DType.F32 && saveDtype != DType.F16 && saveDtype != DType.BF16) {
            throw new IllegalArgumentException("--save-dtype " + saveDtype + ": expected F32, F16 or BF16 (weights are floating point)");
        }
    }

    public FreezeMask freezeMask() {
        return trainablePatterns == null ? FreezeMask.forStage(stage) : FreezeMask.of("custom", trainablePatterns);
    }

    public LrSchedule schedule() {
        return LrSchedule.of(lr, minLr, steps, warmupFraction, decayFraction, decay);
    }

    public Path trainingDir() {
        return out.resolve("training");
    }

    public Path checkpointDir() {
        return trainingDir().resolve("checkpoints");
    }

    public static Builder builder(int stage, Path model, Path data, Path out) {
        return new Builder(stage, model, data, out);
    }

    public Builder toBuilder() {
        Builder b = new Builder(stage, model, data, out);
        b.trainablePatterns = trainablePatterns;
        b.imageRoot = imageRoot;
        b.steps = steps;
        b.stopAfter = stopAfter;
        b.lr = lr;
        b.minLr = minLr;
        b.warmupFraction = warmupFraction;
        b.decayFraction = decayFraction;
        b.decay = decay;
        b.microBatchSize = microBatchSize;
        b.gradAccumulation = gradAccumulation;
        b.maxLength = maxLength;
        b.adam = adam;
        b.maxGradNorm = maxGradNorm;
        b.seed = seed;
        b.checkpointEvery = checkpointEvery;
        b.keepCheckpoints = keepCheckpoints;
        b.resume = resume;
        b.saveDtype = saveDtype;
        b.progress = progress;
        b.gradients = gradients;
        b.overwrite = overwrite;
        return b;
    }

    /** Defaults: 1000 steps, LR 1e-4 → 0 with the paper's 10% warmup and 10% cosine decay, batch 1, cap 2048, clip 1.0. */
    public static final class Builder {
        private int stage;
        private Path model;
        private Path data;
        private Path out;
        private List<String> trainablePatterns;
        private Path imageRoot;
        private long steps = 1000;
        private long stopAfter;
        private double lr = 1e-4;
        private double minLr;
        private double warmupFraction = LrSchedule.PAPER_WARMUP_FRACTION;
        private double decayFraction = LrSchedule.PAPER_DECAY_FRACTION;
        private LrSchedule.Decay decay = LrSchedule.Decay.COSINE;
        private int microBatchSize = 1;
        private int gradAccumulation = 1;
        private int maxLength = 2048;
        private AdamW.Config adam = AdamW.Config.defaults(0.0);
        private double maxGradNorm = 1.0;
        private long seed = 42;
        private long checkpointEvery;
        private int keepCheckpoints = 2;
        private boolean resume;
        private DType saveDtype;
        private boolean progress = true;
        private GradientSource.Kind gradients = GradientSource.Kind.AUTO;
        private boolean overwrite;

        private Builder(int stage, Path model, Path data, Path out) {
            this.stage = stage;
            this.model = model;
            this.data = data;
            this.out = out;
        }

        public Builder trainablePatterns(List<String> v) { trainablePatterns = v; return this; }
        public Builder imageRoot(Path v) { imageRoot = v; return this; }
        public Builder steps(long v) { steps = v; return this; }
        public Builder stopAfter(long v) { stopAfter = v; return this; }
        public Builder lr(double v) { lr = v; return this; }
        public Builder minLr(double v) { minLr = v; return this; }
        public Builder warmupFraction(double v) { warmupFraction = v; return this; }
        public Builder decayFraction(double v) { decayFraction = v; return this; }
        public Builder decay(LrSchedule.Decay v) { decay = v; return this; }
        public Builder microBatchSize(int v) { microBatchSize = v; return this; }
        public Builder gradAccumulation(int v) { gradAccumulation = v; return this; }
        public Builder maxLength(int v) { maxLength = v; return this; }
        public Builder adam(AdamW.Config v) { adam = v; return this; }
        public Builder weightDecay(double v) { adam = new AdamW.Config(adam.beta1(), adam.beta2(), adam.eps(), v); return this; }
        public Builder maxGradNorm(double v) { maxGradNorm = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder checkpointEvery(long v) { checkpointEvery = v; return this; }
        public Builder keepCheckpoints(int v) { keepCheckpoints = v; return this; }
        public Builder resume(boolean v) { resume = v; return this; }
        public Builder saveDtype(DType v) { saveDtype = v; return this; }
        public Builder progress(boolean v) { progress = v; return this; }
        public Builder gradients(GradientSource.Kind v) { gradients = v; return this; }
        public Builder overwrite(boolean v) { overwrite = v; return this; }
        public Builder out(Path v) { out = v; return this; }

        public TrainOptions build() {
            return new TrainOptions(stage, trainablePatterns, model, data, imageRoot, out, steps, stopAfter, lr, minLr,
                    warmupFraction, decayFraction, decay, microBatchSize, gradAccumulation, maxLength, adam, maxGradNorm, seed,
                    checkpointEvery, keepCheckpoints, resume, saveDtype, progress, gradients, overwrite);
        }
    }
}
