package org.mha2mla.cli.demo;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.ModelFamily;
import org.mha2mla.evaluation.parity.GoldenWriter;
import org.mha2mla.evaluation.run.EvalOptions;
import org.mha2mla.evaluation.run.Evaluator;
import org.mha2mla.evaluation.run.ProcessorEncoder;
import org.mha2mla.evaluation.run.TaskResult;
import org.mha2mla.evaluation.synthetic.ShapesGenerator;
import org.mha2mla.evaluation.synthetic.SyntheticShapes;
import org.mha2mla.evaluation.synthetic.SyntheticShapesData;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.generation.Budget;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.H2oPruning;
import org.mha2mla.layers.generation.KvQuantization;
import org.mha2mla.layers.generation.TovaPruning;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.trainer.AdamW;
import org.mha2mla.trainer.ModelFolder;
import org.mha2mla.trainer.ReplicatedGradients;
import org.mha2mla.trainer.TrainOptions;
import org.mha2mla.trainer.Trainer;
import org.mha2mla.trainer.data.ChatExampleEncoder;
import org.mha2mla.trainer.data.ModelProcessor;
import org.mha2mla.trainer.pretrain.Pretrainer;
import org.mha2mla.trainer.pretrain.ScratchModel;
import org.mha2mla.trainer.pretrain.WordLevelTokenizer;

/**
 * {@code mha2mla demo}: the whole method on a model the project makes itself. The one place that composes the
 * trainer, the converter and the evaluation module; each step is one method, in the order {@link #run} calls them:
 * <ol>
 * <li>{@link #data}: the synthetic shapes task as LLaVA-instruct JSON + PNG ({@code out/data});</li>
 * <li>{@link #pretrain}: a tiny Qwen2.5-VL from scratch, every parameter trained ({@code out/model},
 * {@code pretrain_loss.csv/png}, {@code model/golden.safetensors} for {@code mha2mla parity});</li>
 * <li>{@link #convert} and {@link #fineTune}: partial RoPE (MKL, d_r = d_h/4) → stage 1 → MD-SVD at
 * d_kv = d_h/2, d_h/4, d_h/8 → stage 2, plus the same factorisations without fine-tuning and the ablations
 * (2-norm instead of MKL, SVD-LLM over all tokens instead of MD-SVD, at d_kv = d_h/4) — each a model folder under {@code out/variants};</li>
 * <li>{@link #evaluate}: every variant and, with {@link Settings#baselines}, the cache baselines (int4/int2
 * quantization, H2O and TOVA pruning of the original cache; the int4/int2 latent cache), on the held-out split
 * through the lmms-eval-style {@link Evaluator};</li>
 * <li>{@link DemoReport}: {@code results.md}, {@code results.json}, {@code accuracy_vs_kv.png}, and the table.</li>
 * </ol>
 * The folders of every step are ordinary Hugging Face folders: each step can be rerun by hand with the
 * {@code convert}, {@code train} and {@code eval} commands.
 */
public final class DemoPipeline {

    /**
     * A file the demo writes first into its output folder, and at the end of a run the list of every file it wrote
     * ({@code file: <relative path>} lines): a later run removes those files and nothing else, so files the user
     * added are kept. A folder without it is never cleared.
     */
    static final String MARKER = "mha2mla-demo.txt";
    /** What the demo writes at the top of its folder: what a run that stopped before listing its files owned. */
    static final List<String> OWN_ENTRIES = List.of("data", "init", "model", "variants", "eval", "pretrain_loss.csv", "pretrain_loss.png",
            DemoReport.RESULTS_MD, DemoReport.RESULTS_JSON, DemoReport.PLOT);
    private static final String FILE_LINE = "file: ";

    /**
     * Everything a run chooses, built by name ({@link #builder()}, whose defaults are {@link #full()}); {@link #full()}
     * and {@link #quick()} are the two the command offers.
     */
    public static final class Settings {
        private final String name;
        private final SyntheticShapesData.Sizes data;
        private final ScratchModel.Spec model;
        private final int steps;
        private final int batchSize;
        private final double peakLr;
        private final double minLr;
        private final double warmupFraction;
        private final double beta2;
        private final double weightDecay;
        private final double maxGradNorm;
        private final int maxLength;
        private final int stage1Steps;
        private final int stage2Steps;
        private final int stageBatch;
        private final double stageLr;
        private final int quantGroup;
        private final boolean baselines;
        private final double budgetSeconds;

        private Settings(Builder b) {
            name = b.name;
            data = b.data;
            model = b.model;
            steps = b.steps;
            batchSize = b.batchSize;
            peakLr = b.peakLr;
            minLr = b.minLr;
            warmupFraction = b.warmupFraction;
            beta2 = b.beta2;
            weightDecay = b.weightDecay;
            maxGradNorm = b.maxGradNorm;
            maxLength = b.maxLength;
            stage1Steps = b.stage1Steps;
            stage2Steps = b.stage2Steps;
            stageBatch = b.stageBatch;
            stageLr = b.stageLr;
            quantGroup = b.quantGroup;
            baselines = b.baselines;
            budgetSeconds = b.budgetSeconds;
        }

        /** A builder holding the {@link #full()} settings. */
        public static Builder builder() {
            return new Builder();
        }

        /** A builder holding these settings. */
        public Builder toBuilder() {
            return new Builder().name(name).data(data).model(model).steps(steps).batchSize(batchSize).peakLr(peakLr).minLr(minLr)
                    .warmupFraction(warmupFraction).beta2(beta2).weightDecay(weightDecay).maxGradNorm(maxGradNorm)
                    .maxLength(maxLength).stage1Steps(stage1Steps).stage2Steps(stage2Steps).stageBatch(stageBatch)
                    .stageLr(stageLr).quantGroup(quantGroup).baselines(baselines).budgetSeconds(budgetSeconds);
        }

        /** The demo's default, sized to the 15-minute budget on 2 CPU cores (the builder's defaults). */
        public static Settings full() {
            return builder().build();
        }

        /** {@code --quick}: the same model and every step, with little data and few updates (CI smoke test, < 3 minutes). */
        public static Settings quick() {
            return builder().name("quick").data(new SyntheticShapesData.Sizes(112, 600, 16, 6)).steps(60).batchSize(16)
                    .warmupFraction(0.05).stage1Steps(4).stage2Steps(4).budgetSeconds(0).build();
        }

        /** The demo's model: {@link ScratchModel.Spec#builder()}'s defaults. */
        static ScratchModel.Spec spec() {
            return ScratchModel.Spec.builder().build();
        }

        /** Exactly {@code n} pretraining updates (no time budget). */
        public Settings withSteps(int n) {
            return toBuilder().steps(n).budgetSeconds(0).build();
        }

        public Settings withBaselines(boolean on) {
            return toBuilder().baselines(on).build();
        }

        int headDim() {
            return model.hidden() / model.heads();
        }

        /** The settings' name in the report: {@code full}, {@code quick}, or a caller's. */
        public String name() { return name; }
        /** Image size, training images, calibration samples and held-out questions per type of the synthetic task. */
        public SyntheticShapesData.Sizes data() { return data; }
        /** The model pretrained from scratch. */
        public ScratchModel.Spec model() { return model; }
        /** Pretraining updates (the cosine's length; a time budget may plan fewer). */
        public int steps() { return steps; }
        /** Conversations per pretraining update. */
        public int batchSize() { return batchSize; }
        /** Pretraining's peak learning rate. */
        public double peakLr() { return peakLr; }
        /** Pretraining's final learning rate, where the cosine ends. */
        public double minLr() { return minLr; }
        /** Warmup as a fraction of the planned updates. */
        public double warmupFraction() { return warmupFraction; }
        /** AdamW's β2 in pretraining (β1 0.9). */
        public double beta2() { return beta2; }
        /** AdamW's decoupled weight decay in pretraining. */
        public double weightDecay() { return weightDecay; }
        /** The global gradient-norm clip of pretraining and of both stages. */
        public double maxGradNorm() { return maxGradNorm; }
        /** Tokens per training sequence (longer conversations are cut). */
        public int maxLength() { return maxLength; }
        /** Optimizer updates of each stage-1 run (query/key projections after partial RoPE). */
        public int stage1Steps() { return stage1Steps; }
        /** Optimizer updates of each stage-2 run (the MLA parameters after MD-SVD). */
        public int stage2Steps() { return stage2Steps; }
        /** Examples per update of both stages. */
        public int stageBatch() { return stageBatch; }
        /**
         * The stages' peak learning rate: the pretraining's final one ({@code minLr}), since the stages go on from where
         * the pretraining's cosine ended (a rate 10× higher undoes part of the pretraining; benchmarks/pretrain/README.md).
         */
        public double stageLr() { return stageLr; }
        /** Values per quantization group of the int4/int2 cache baselines (divides every cache row). */
        public int quantGroup() { return quantGroup; }
        /**
         * Whether to evaluate the cache baselines too (int4/int2 quantization, H2O, TOVA, quantized latent cache): six
         * more evaluations, each decoding the question through the compressed cache token by token.
         */
        public boolean baselines() { return baselines; }
        /**
         * The whole run's wall-clock budget: pretraining ends early enough to keep it (see {@link Pretrainer.Budget});
         * 0 runs exactly {@link #steps} updates.
         */
        public double budgetSeconds() { return budgetSeconds; }

        /**
         * Named settings; every field starts at the {@link #full()} value. Batch 32 because, at equal compute, it learns
         * the two-hop attention the questions need much faster than batch 16; at most 1000 updates, which the time budget
         * may shorten to a multiple of 25; warmup 3.5% (35 of 1000 updates). The reference runs behind these choices are
         * in benchmarks/pretrain/README.md.
         */
        public static final class Builder {
            private String name = "full";
            private SyntheticShapesData.Sizes data = new SyntheticShapesData.Sizes(112, 4000, 64, 20);
            private ScratchModel.Spec model = spec();
            private int steps = 1000;
            private int batchSize = 32;
            private double peakLr = 2e-3;
            private double minLr = 1e-4;
            private double warmupFraction = 0.035;
            private double beta2 = 0.95;
            private double weightDecay = 0.01;
            private double maxGradNorm = 1.0;
            private int maxLength = 256;
            private int stage1Steps = 30;
            private int stage2Steps = 50;
            private int stageBatch = 8;
            private double stageLr = 1e-4;
            private int quantGroup = 16;
            private boolean baselines = false;
            private double budgetSeconds = 15 * 60;

            private Builder() {
            }

            public Builder name(String v) { name = v; return this; }
            public Builder data(SyntheticShapesData.Sizes v) { data = v; return this; }
            public Builder model(ScratchModel.Spec v) { model = v; return this; }
            public Builder steps(int v) { steps = v; return this; }
            public Builder batchSize(int v) { batchSize = v; return this; }
            public Builder peakLr(double v) { peakLr = v; return this; }
            public Builder minLr(double v) { minLr = v; return this; }
            public Builder warmupFraction(double v) { warmupFraction = v; return this; }
            public Builder beta2(double v) { beta2 = v; return this; }
            public Builder weightDecay(double v) { weightDecay = v; return this; }
            public Builder maxGradNorm(double v) { maxGradNorm = v; return this; }
            public Builder maxLength(int v) { maxLength = v; return this; }
            public Builder stage1Steps(int v) { stage1Steps = v; return this; }
            public Builder stage2Steps(int v) { stage2Steps = v; return this; }
            public Builder stageBatch(int v) { stageBatch = v; return this; }
            public Builder stageLr(double v) { stageLr = v; return this; }
            public Builder quantGroup(int v) { quantGroup = v; return this; }
            public Builder baselines(boolean v) { baselines = v; return this; }
            public Builder budgetSeconds(double v) { budgetSeconds = v; return this; }

            public Settings build() {
                return new Settings(this);
            }
        }
    }

    /**
     * One row of the results: a model folder evaluated with a cache policy.
     *
     * @param kvBytesPerToken    bytes the cache held per token, averaged over the held-out questions
     * @param modelBytesPerToken the folder's float32 cache bytes per token (before quantization or pruning)
     */
    public record Evaluation(String variant, String description, Path model, String policy, TaskResult result,
                             double kvBytesPerToken, long modelBytesPerToken) {
        public double accuracy() {
            return result.aggregate().get(SyntheticShapes.ACCURACY).doubleValue();
        }

        public double accuracy(ShapesGenerator.Type type) {
            return result.aggregate().get(SyntheticShapes.ACCURACY + "_" + type.key()).doubleValue();
        }
    }

    private final Path out;
    private final Settings settings;
    private final long seed;
    private final PrintStream log;
    /** The pool running the steps after pretraining, while it does (it decides the steps' progress bars and log). */
    private volatile StepPool steps;

    public DemoPipeline(Path out, Settings settings, long seed, PrintStream log) {
        this.out = out;
        this.settings = settings;
        this.seed = seed;
        this.log = log;
    }

    /** The whole demo; returns every evaluated row (also written to results.md / results.json). */
    public List<Evaluation> run() {
        long t0 = System.nanoTime();
        Set<Path> before = prepareOut();
        SyntheticShapesData.Splits splits = data();
        List<Evaluation> rows = convertAndEvaluate(splits, pretrain(splits, t0), t0);
        listWrittenFiles(before);
        return rows;
    }

    /**
     * Steps 2–4 on a pretrained model folder: the 10 conversions, 7 fine-tuning runs and 10 evaluations (6 more with
     * {@link Settings#baselines}), two at a time on a {@link StepPool}, each as soon as the folder it reads exists; then
     * the report. {@code t0} (a {@link System#nanoTime}) is when the run began, for the total time reported.
     */
    public List<Evaluation> convertAndEvaluate(SyntheticShapesData.Splits splits, Pretrained pretrained, long t0) {
        Path original = pretrained.folder();
        int dh = settings.headDim();
        int dKv = dh / 4;
        List<CompletableFuture<Evaluation>> rows = new ArrayList<>();
        List<Evaluation> evaluated;
        try (StepPool steps = new StepPool(stepThreads(), true, log)) {
            this.steps = steps;
            rows.add(steps.submit(() -> evaluate(original, splits, "original", "pretrained Qwen2.5-VL (GQA, full RoPE)", CachePolicy.FULL)));

            CompletableFuture<Path> ropeMkl = steps.submit(
                    () -> convert(original, splits, "rope-mkl", Mha2MlaConfig.Step.ROPE, RopeStrategy.MKL, 0, SvdMethod.MD));
            CompletableFuture<Path> ropeMklS1 = steps.then(ropeMkl, p -> fineTune(1, p, splits, "rope-mkl-s1"));
            rows.add(steps.then(ropeMklS1, p -> evaluate(p, splits, "rope-mkl-s1", "partial RoPE (MKL) + stage 1, full cache",
                    CachePolicy.FULL)));
            CompletableFuture<Path> main = null;
            for (int d : new int[] {dh / 2, dh / 4, dh / 8}) {
                String tag = "dkv" + d;
                CompletableFuture<Path> raw = steps.then(ropeMkl,
                        p -> convert(p, splits, "mla-mkl-md-" + tag + "-noft", Mha2MlaConfig.Step.SVD, RopeStrategy.MKL, d, SvdMethod.MD));
                rows.add(steps.then(raw, p -> evaluate(p, splits, "mla-" + tag + "-noft", "MKL + MD-SVD d_kv=" + d + ", no fine-tuning",
                        CachePolicy.FULL)));
                CompletableFuture<Path> s2 = steps.then(steps.then(ropeMklS1,
                                p -> convert(p, splits, "mla-mkl-md-" + tag, Mha2MlaConfig.Step.SVD, RopeStrategy.MKL, d, SvdMethod.MD)),
                        p -> fineTune(2, p, splits, "mla-mkl-md-" + tag + "-s2"));
                rows.add(steps.then(s2, p -> evaluate(p, splits, "mla-" + tag, "MKL + MD-SVD d_kv=" + d + ", stages 1+2",
                        CachePolicy.FULL)));
                if (d == dKv) main = s2;
            }

            // Ablations at d_kv = d_h/4, each through both stages like the main row.
            CompletableFuture<Path> rope2n = steps.then(steps.submit(
                            () -> convert(original, splits, "rope-2norm", Mha2MlaConfig.Step.ROPE, RopeStrategy.TWO_NORM, 0, SvdMethod.MD)),
                    p -> fineTune(1, p, splits, "rope-2norm-s1"));
            CompletableFuture<Path> twoNorm = steps.then(steps.then(rope2n,
                            p -> convert(p, splits, "mla-2norm-md-dkv" + dKv, Mha2MlaConfig.Step.SVD, RopeStrategy.TWO_NORM, dKv, SvdMethod.MD)),
                    p -> fineTune(2, p, splits, "mla-2norm-md-dkv" + dKv + "-s2"));
            rows.add(steps.then(twoNorm, p -> evaluate(p, splits, "ablation-2norm", "2-norm + MD-SVD d_kv=" + dKv + ", stages 1+2",
                    CachePolicy.FULL)));
            CompletableFuture<Path> svdLlm = steps.then(steps.then(ropeMklS1,
                            p -> convert(p, splits, "mla-mkl-svdllm-dkv" + dKv, Mha2MlaConfig.Step.SVD, RopeStrategy.MKL, dKv, SvdMethod.SVD_LLM)),
                    p -> fineTune(2, p, splits, "mla-mkl-svdllm-dkv" + dKv + "-s2"));
            rows.add(steps.then(svdLlm, p -> evaluate(p, splits, "ablation-svd-llm", "MKL + SVD-LLM d_kv=" + dKv + ", stages 1+2",
                    CachePolicy.FULL)));

            if (settings.baselines()) rows.addAll(baselines(steps, splits, original, main));
            evaluated = rows.stream().map(StepPool::join).toList();   // before the pool closes: closing stops what still runs
        } finally {
            this.steps = null;
        }
        return report(pretrained, t0, evaluated);
    }

    /** Threads for the steps after pretraining: as many as the pretraining's replicas (each step is single-threaded). */
    static int stepThreads() {
        return ReplicatedGradients.replicasFor(Runtime.getRuntime().availableProcessors());
    }

    private List<Evaluation> report(Pretrained pretrained, long t0, List<Evaluation> rows) {
        double seconds = (System.nanoTime() - t0) / 1e9;
        DemoReport report = new DemoReport(settings, seed, pretrained.steps(), rows, seconds);
        report.write(out);
        log.println();
        log.print(report.table());
        log.printf(Locale.ROOT, "%ndemo (%s) done in %.1f s; results in %s and %s%n", settings.name(), seconds,
                out.resolve(DemoReport.RESULTS_MD), out.resolve(DemoReport.RESULTS_JSON));
        return rows;
    }

    /**
     * Cache baselines: quantizing or pruning the original cache, and quantizing the latent one of {@code main}.
     */
    private List<CompletableFuture<Evaluation>> baselines(StepPool steps, SyntheticShapesData.Splits splits, Path original,
                                                                CompletableFuture<Path> main) {
        int dKv = settings.headDim() / 4;
        // A one-word answer is the first generated token, which a one-pass prefill computes from exact keys and values
        // whatever the policy: here the question after the image is decoded through the stored cache (see CachePolicy),
        // so the answer reads the compressed image context. With the float32 cache that is the same computation as above.
        int g = settings.quantGroup();
        CachePolicy int4 = CachePolicy.quantized(new KvQuantization(4, g, 0)).withTextAfterImageThroughCache();
        CachePolicy int2 = CachePolicy.quantized(new KvQuantization(2, g, 0)).withTextAfterImageThroughCache();
        CachePolicy h2o = CachePolicy.pruned(new H2oPruning(Budget.parse("0.5"), 0.5)).withTextAfterImageThroughCache();
        CachePolicy tova = CachePolicy.pruned(new TovaPruning(Budget.parse("0.5"))).withTextAfterImageThroughCache();
        return List.of(
                steps.submit(() -> evaluate(original, splits, "original-int4", "original, int4 KV cache", int4)),
                steps.submit(() -> evaluate(original, splits, "original-int2", "original, int2 KV cache", int2)),
                steps.submit(() -> evaluate(original, splits, "original-h2o", "original, H2O 50% of the image prefix", h2o)),
                steps.submit(() -> evaluate(original, splits, "original-tova", "original, TOVA 50% of the image prefix", tova)),
                steps.then(main, p -> evaluate(p, splits, "mla-dkv" + dKv + "-int4", "MLA d_kv=" + dKv + ", int4 latent cache", int4)),
                steps.then(main, p -> evaluate(p, splits, "mla-dkv" + dKv + "-int2", "MLA d_kv=" + dKv + ", int2 latent cache", int2)));
    }

    /**
     * Creates {@code out}, or removes from it what an earlier demo wrote (so stale predictions are never resumed) and
     * nothing else; a non-empty folder the demo did not write is refused. Returns the files left in it (the user's).
     */
    Set<Path> prepareOut() {
        try {
            if (Files.isDirectory(out)) {
                boolean empty;
                try (Stream<Path> s = Files.list(out)) {
                    empty = s.findAny().isEmpty();
                }
                if (!empty && !Files.isRegularFile(out.resolve(MARKER))) {
                    throw new IllegalArgumentException(out + " is not empty and was not written by the demo; choose another --out");
                }
                if (!empty) removeEarlierRun();
            }
            Files.createDirectories(out);
            Files.writeString(out.resolve(MARKER), "written by mha2mla demo; a demo run that stops early owns " + OWN_ENTRIES + "\n");
            return filesUnder(out);
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot prepare the output folder (" + e.getMessage() + ")", e);
        }
    }

    /** The files an earlier run listed in the marker, or (a run that stopped early) its own top-level entries. */
    private void removeEarlierRun() throws IOException {
        List<Path> listed = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve(MARKER))) {
            if (!line.startsWith(FILE_LINE)) continue;
            Path p = out.resolve(line.substring(FILE_LINE.length())).normalize();
            if (p.startsWith(out) && !p.equals(out)) listed.add(p);
        }
        if (listed.isEmpty()) {
            for (String name : OWN_ENTRIES) deleteRecursively(out.resolve(name));
        } else {
            Set<Path> parents = new TreeSet<>(Comparator.reverseOrder());
            for (Path p : listed) {
                Files.deleteIfExists(p);
                for (Path d = p.getParent(); d != null && !d.equals(out) && d.startsWith(out); d = d.getParent()) parents.add(d);
            }
            for (Path d : parents) {                 // deepest first: folders the demo made, once empty
                try (Stream<Path> s = Files.list(d)) {
                    if (s.findAny().isEmpty()) Files.delete(d);
                } catch (java.nio.file.NoSuchFileException e) {
                    // already gone
                }
            }
        }
        Files.delete(out.resolve(MARKER));
    }

    /** Writes the marker's list: every file under {@code out} now that was not there when the run began. */
    private void listWrittenFiles(Set<Path> before) {
        try {
            StringBuilder b = new StringBuilder("written by mha2mla demo; a later demo run into this folder removes the files listed "
                    + "below and nothing else\n");
            for (Path p : filesUnder(out)) {
                if (!before.contains(p) && !p.getFileName().toString().equals(MARKER)) b.append(FILE_LINE).append(out.relativize(p)).append('\n');
            }
            Files.writeString(out.resolve(MARKER), b.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot list the demo's files in " + MARKER + " (" + e.getMessage() + ")", e);
        }
    }

    private static Set<Path> filesUnder(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> !Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }

    /** The synthetic task under {@code out/data}. */
    public SyntheticShapesData.Splits data() {
        long t0 = System.nanoTime();
        SyntheticShapesData.Splits splits = SyntheticShapesData.write(out.resolve("data"), settings.data(), seed);
        log.printf(Locale.ROOT, "data: %d training images, %d calibration and %d held-out questions in %s (%.1f s)%n",
                settings.data().trainImages(), settings.data().calibration(),
                settings.data().testPerType() * ShapesGenerator.Type.values().length, splits.root(), (System.nanoTime() - t0) / 1e9);
        return splits;
    }

    /**
     * The time the full settings need after pretraining (the conversions, the 7 fine-tuning runs, 10 evaluations and
     * the golden logits), in pretraining updates of the same machine, with one graph per update and the steps run one
     * after another: the budget stops pretraining this many updates before the deadline. Too high costs the model
     * updates, too low overruns the 15 minutes; the measurements behind it are in benchmarks/pretrain/README.md.
     */
    static final double AFTER_PRETRAINING_UPDATES = 220;

    /**
     * {@link #AFTER_PRETRAINING_UPDATES} with two graphs per update and as many threads for the steps after it
     * ({@link StepPool}): replicas make an update faster than the single-threaded steps, so the same work is more
     * updates' worth; the largest such reserve measured across machines plus a margin (the ratio differs between CPUs;
     * the runs are in benchmarks/pretrain/README.md).
     */
    static final double AFTER_PRETRAINING_UPDATES_REPLICATED = 310;

    /** {@link #AFTER_PRETRAINING_UPDATES} for {@code replicas} graphs per update. */
    static double afterPretrainingUpdates(int replicas) {
        return replicas == 1 ? AFTER_PRETRAINING_UPDATES : AFTER_PRETRAINING_UPDATES_REPLICATED;
    }

    /** The pretrained model folder and the updates it took. */
    public record Pretrained(Path folder, int steps) {
    }

    /**
     * A fresh model (out/init), pretrained on the training split and saved as out/model.
     * {@code t0} (a {@link System#nanoTime}) is when the run began, from which {@link Settings#budgetSeconds} counts.
     */
    public Pretrained pretrain(SyntheticShapesData.Splits splits, long t0) {
        WordLevelTokenizer tokenizer = WordLevelTokenizer.of(ShapesGenerator.vocabulary());
        Path init = out.resolve("init");
        ScratchModel.write(init, settings.model(), tokenizer, ScratchModel.initialWeights(settings.model(), tokenizer.size(), seed));
        Path model = out.resolve("model");
        int replicas = ReplicatedGradients.replicasFor(Runtime.getRuntime().availableProcessors());
        long warmup = Pretrainer.Options.warmup(settings.steps(), settings.warmupFraction());
        PretrainingBudget budget = settings.budgetSeconds() > 0
                ? new PretrainingBudget(t0 + (long) (settings.budgetSeconds() * 1e9), afterPretrainingUpdates(replicas), settings.steps(), warmup)
                : null;
        Pretrainer.Options o = new Pretrainer.Options(init, splits.train(), model, out.resolve("pretrain_loss.csv"),
                out.resolve("pretrain_loss.png"), settings.steps(), settings.batchSize(), settings.peakLr(), settings.minLr(),
                settings.warmupFraction(), new AdamW.Config(0.9, settings.beta2(), 1e-8, settings.weightDecay()), settings.maxGradNorm(), seed,
                settings.maxLength(), true, budget);
        int steps;
        try (ModelProcessor processor = ModelProcessor.load(init)) {
            Pretrainer pretrainer = new Pretrainer(init, processor, replicas);
            Pretrainer.Result r = pretrainer.run(o, log);
            steps = r.steps();
            if (r.steps() < settings.steps()) {
                log.printf(Locale.ROOT, "time budget: %.0f ms/update on this machine, so %d of %d updates keep the run within %.0f s%n",
                        1e3 * budget.secondsPerUpdate(), r.steps(), settings.steps(), settings.budgetSeconds());
            }
            log.printf(Locale.ROOT, "pretrained %d steps × %d examples in %.1f s (%.0f ms/step, %.0f tokens/s), final loss %.4f%n",
                    r.steps(), settings.batchSize(), r.seconds(), 1e3 * r.seconds() / r.steps(), r.tokensPerSecond(),
                    r.finalLoss());
            GoldenWriter.write(model.resolve("golden.safetensors"), goldenCases(splits, init), pretrainer::logits,
                    pretrainer.eosTokenIds(), 4, "mha2mla pretraining graph");
        }
        return new Pretrained(model, steps);
    }

    /**
     * Two held-out prompts whose logits the training graph records for {@code mha2mla parity}, encoded exactly as
     * {@link #evaluate} encodes them.
     */
    private static List<MultimodalInput> goldenCases(SyntheticShapesData.Splits splits, Path modelDir) {
        SyntheticShapes benchmark = new SyntheticShapes();
        List<Doc> docs;
        try {
            docs = benchmark.load(splits.test());
        } catch (IOException e) {
            throw new UncheckedIOException(splits.test() + ": cannot read the held-out split", e);
        }
        List<MultimodalInput> cases = new ArrayList<>();
        try (ProcessorEncoder encoder = ProcessorEncoder.load(modelDir)) {
            for (Doc d : List.of(docs.get(0), docs.get(docs.size() - 1))) {
                cases.add(encoder.encode(benchmark.prompt(d, ModelFamily.QWEN2_5_VL), d.images()));
            }
        }
        return cases;
    }

    /**
     * {@code mha2mla convert} on {@code input} into {@code out/variants/name}: partial RoPE ({@code step} rope) or
     * the factorisation of a partial-RoPE model ({@code step} svd), calibrated on the calibration split.
     */
    public Path convert(Path input, SyntheticShapesData.Splits splits, String name, Mha2MlaConfig.Step step, RopeStrategy strategy,
                        int dKv, SvdMethod svd) {
        long t0 = System.nanoTime();
        Path dir = out.resolve("variants").resolve(name);
        Mha2MlaConverter.Options options = Mha2MlaConverter.Options.builder(dKv).step(step).strategy(strategy).svd(svd)
                .progress(stepBars()).build();
        ModelFolder.convert(input, splits.calibration(), null, settings.data().calibration(), options, dir, DType.F32);
        settle();
        stepLog().printf(Locale.ROOT, "convert %-26s %s (%.1f s)%n", name, step == Mha2MlaConfig.Step.ROPE ? "partial RoPE " + strategy.id()
                : svd.id() + "-SVD d_kv=" + dKv, (System.nanoTime() - t0) / 1e9);
        return dir;
    }

    /** {@code mha2mla train --stage N} on the training split into {@code out/variants/name}. */
    public Path fineTune(int stage, Path input, SyntheticShapesData.Splits splits, String name) {
        Path dir = out.resolve("variants").resolve(name);
        TrainOptions o = TrainOptions.builder(stage, input, splits.train(), dir)
                .steps(stage == 1 ? settings.stage1Steps() : settings.stage2Steps()).lr(settings.stageLr())
                .minLr(settings.stageLr() / 10).microBatchSize(settings.stageBatch()).maxLength(settings.maxLength())
                .adam(AdamW.Config.defaults(0)).maxGradNorm(settings.maxGradNorm()).seed(seed + stage).progress(stepBars()).build();
        Trainer.Result r;
        try (ModelProcessor processor = ModelProcessor.load(input)) {
            r = Trainer.run(o, new ChatExampleEncoder(processor), stepLog());
        }
        settle();
        stepLog().printf(Locale.ROOT, "stage %d → %s: %s%n", stage, name, r.summary());
        return dir;
    }

    /** The held-out split through {@link Evaluator} (processor, greedy generation under {@code policy}, lmms-eval scoring). */
    public Evaluation evaluate(Path modelDir, SyntheticShapesData.Splits splits, String variant, String description, CachePolicy policy) {
        Path evalDir = out.resolve("eval").resolve(variant);
        EvalOptions options = EvalOptions.builder(modelDir, splits.root(), evalDir).family(ModelFamily.QWEN2_5_VL).policy(policy)
                .progress(stepBars()).build();
        try (VisionLanguageModel model = VlmLoader.load(modelDir); ProcessorEncoder encoder = ProcessorEncoder.load(modelDir)) {
            Evaluator evaluator = new Evaluator(model, encoder, options);
            TaskResult r = evaluator.evaluate(new SyntheticShapes(), splits.test());
            evaluator.report(List.of(r));
            Evaluation e = new Evaluation(variant, description, modelDir, policy.label(), r, r.kvBytesPerToken(), r.kvFullBytesPerToken());
            stepLog().printf(Locale.ROOT, "eval %-18s %5.1f%%  KV %.0f B/token (%.1f s)%n", variant, 100 * e.accuracy(), e.kvBytesPerToken(),
                    r.seconds());
            return e;
        } finally {
            settle();
        }
    }

    /** Whether a step shows its own progress bars: always outside the {@link StepPool}, inside it as the pool decides. */
    private boolean stepBars() {
        StepPool p = steps;
        return p == null || p.stepBars();
    }

    private PrintStream stepLog() {
        StepPool p = steps;
        return p == null ? log : p.log();
    }

    /**
     * Collects the garbage of a finished step. ND4J frees a model's off-heap arrays only when their Java objects are
     * collected, and the small heap of this pipeline rarely triggers a collection on its own, so without it the
     * off-heap memory of finished steps accumulates (figures in benchmarks/pretrain/README.md).
     */
    private static void settle() {
        System.gc();
    }
}
