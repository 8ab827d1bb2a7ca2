package org.mha2mla.cli.demo;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import javax.imageio.ImageIO;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.GenerationSettings;
import org.mha2mla.evaluation.benchmarks.ModelFamily;
import org.mha2mla.evaluation.scoring.Scoring;
import org.mha2mla.evaluation.synthetic.ShapesGenerator;
import org.mha2mla.evaluation.synthetic.SyntheticShapes;
import org.mha2mla.evaluation.synthetic.SyntheticShapesData;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.trainer.AdamW;
import org.mha2mla.trainer.pretrain.FixedSizeQwenProcessor;
import org.mha2mla.trainer.pretrain.Pretrainer;
import org.mha2mla.trainer.pretrain.ScratchModel;
import org.mha2mla.trainer.pretrain.WordLevelTokenizer;

/**
 * {@code mha2mla demo}: the whole method on a model the project makes itself. The one place that composes the
 * trainer and the evaluation module; each step is one method, in the order they run:
 * <ol>
 * <li>{@link #data}: the synthetic shapes task written as LLaVA-instruct JSON + PNG ({@code out/data});</li>
 * <li>{@link #pretrain}: a tiny Qwen2.5-VL initialised from scratch and pretrained on every parameter
 * ({@code out/model}, {@code out/pretrain_loss.csv/png}, {@code out/model/golden.safetensors} for {@code mha2mla parity});</li>
 * <li>{@link #evaluate}: greedy generation with the KV cache on the held-out split, scored per question type.</li>
 * </ol>
 */
public final class DemoPipeline {

    /** Everything a run chooses; {@link #full()} and {@link #quick()} are the two the command offers. */
    public record Settings(String name, SyntheticShapesData.Sizes data, ScratchModel.Spec model, int steps, int batchSize,
                           double peakLr, double minLr, double warmupFraction, double beta2, double weightDecay,
                           double maxGradNorm, int maxLength) {

        /** The demo's default: fits the 15-minute budget on 2 CPU cores with pretraining in about 6 minutes. */
        public static Settings full() {
            return new Settings("full", new SyntheticShapesData.Sizes(112, 4000, 64, 100), spec(), 1200, 16,
                    2e-3, 1e-4, 0.05, 0.95, 0.01, 1.0, 256);
        }

        /** {@code --quick}: the same model, less data and fewer steps (CI smoke test, 3 minutes in all). */
        public static Settings quick() {
            return new Settings("quick", new SyntheticShapesData.Sizes(112, 1000, 32, 20), spec(), 200, 16,
                    2e-3, 1e-4, 0.05, 0.95, 0.01, 1.0, 256);
        }

        /**
         * Decoder: 2 layers, d 256, GQA 8 query / 4 KV heads of d_h 32, M-RoPE sections 4/6/6 pairs (Qwen's 16/24/24
         * scaled), RoPE base 1000 (see {@link ScratchModel.Spec#ropeTheta}); ViT: 1 block of width 64 (2 heads of 32),
         * 112 px windows (a whole image), the 2×2 merger. Initial std 0.08 ≈ 1/√256 (see {@link ScratchModel.Spec}).
         */
        static ScratchModel.Spec spec() {
            return new ScratchModel.Spec(256, 768, 2, 8, 4, new int[] {4, 6, 6}, 1000.0, 64, 128, 1, 2, List.of(0), 112, 0.08);
        }

        public Settings withSteps(int n) {
            return new Settings(name, data, model, n, batchSize, peakLr, minLr, warmupFraction, beta2, weightDecay, maxGradNorm, maxLength);
        }
    }

    /** Held-out scores of one model: the benchmark's aggregate (accuracy, accuracy_&lt;type&gt;, n) and the time taken. */
    public record Evaluation(String variant, ObjectNode aggregate, double seconds, long kvBytesPerToken) {
        public double accuracy() {
            return aggregate.get(SyntheticShapes.ACCURACY).doubleValue();
        }
    }

    private final Path out;
    private final Settings settings;
    private final long seed;
    private final PrintStream log;

    public DemoPipeline(Path out, Settings settings, long seed, PrintStream log) {
        this.out = out;
        this.settings = settings;
        this.seed = seed;
        this.log = log;
    }

    /** Step 1 of the demo: data, pretraining, saving, evaluation of the original model. */
    public Evaluation run() {
        long t0 = System.nanoTime();
        SyntheticShapesData.Splits splits = data();
        Path model = pretrain(splits);
        Evaluation original = evaluate(model, splits, "original");
        log.println();
        log.println(table(List.of(original)));
        log.printf(Locale.ROOT, "demo (%s) done in %.1f s; outputs under %s%n", settings.name(), (System.nanoTime() - t0) / 1e9, out);
        return original;
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

    /** A fresh model (out/init), pretrained on the training split and saved as out/model; returns out/model. */
    public Path pretrain(SyntheticShapesData.Splits splits) {
        WordLevelTokenizer tokenizer = WordLevelTokenizer.of(ShapesGenerator.vocabulary());
        Path init = out.resolve("init");
        ScratchModel.write(init, settings.model(), tokenizer, ScratchModel.initialWeights(settings.model(), tokenizer.size(), seed));
        Path model = out.resolve("model");
        Pretrainer.Options o = new Pretrainer.Options(init, splits.train(), model, out.resolve("pretrain_loss.csv"),
                out.resolve("pretrain_loss.png"), settings.steps(), settings.batchSize(), settings.peakLr(), settings.minLr(),
                settings.warmupFraction(), new AdamW.Config(0.9, settings.beta2(), 1e-8, settings.weightDecay()), settings.maxGradNorm(), seed,
                settings.maxLength(), true);
        try (FixedSizeQwenProcessor processor = FixedSizeQwenProcessor.load(init)) {
            Pretrainer pretrainer = new Pretrainer(init, processor);
            Pretrainer.Result r = pretrainer.run(o, log);
            log.printf(Locale.ROOT, "pretrained %d steps × %d examples in %.1f s (%.0f ms/step, %.0f tokens/s), final loss %.4f%n",
                    settings.steps(), settings.batchSize(), r.seconds(), 1e3 * r.seconds() / settings.steps(), r.tokensPerSecond(),
                    r.finalLoss());
            pretrainer.writeGolden(model.resolve("golden.safetensors"), goldenCases(splits, processor), 4);
        }
        return model;
    }

    /** Two held-out prompts whose logits the training graph records for {@code mha2mla parity}. */
    private static List<MultimodalInput> goldenCases(SyntheticShapesData.Splits splits, FixedSizeQwenProcessor processor) {
        List<MultimodalInput> cases = new ArrayList<>();
        try {
            List<Doc> docs = new SyntheticShapes().load(splits.test());
            for (Doc d : List.of(docs.get(0), docs.get(docs.size() - 1))) cases.add(processor.prompt(d.text("question"), image(d)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return cases;
    }

    /** Greedy answers to every held-out question through the loaded folder (KV cache), scored by {@link SyntheticShapes}. */
    public Evaluation evaluate(Path modelDir, SyntheticShapesData.Splits splits, String variant) {
        long t0 = System.nanoTime();
        SyntheticShapes benchmark = new SyntheticShapes();
        GenerationSettings generation = benchmark.generation();
        ModelFamily family = ModelFamily.QWEN2_5_VL;
        List<Doc> docs;
        try {
            docs = benchmark.load(splits.test());
        } catch (IOException e) {
            throw new UncheckedIOException(splits.test() + ": cannot read the held-out split", e);
        }
        List<String> predictions = new ArrayList<>();
        long kv;
        try (VisionLanguageModel model = VlmLoader.load(modelDir);
             FixedSizeQwenProcessor processor = FixedSizeQwenProcessor.load(modelDir);
             ProgressBar bar = new ProgressBarBuilder().setTaskName("eval " + variant).setInitialMax(docs.size())
                     .setUpdateIntervalMillis(500).continuousUpdate().build()) {
            kv = model.kvCacheBytesPerToken();
            for (Doc d : docs) {
                MultimodalInput in = processor.prompt(benchmark.prompt(d, family), image(d));
                long[] ids = model.generate(in, generation.maxNewTokens(family), true);
                predictions.add(generation.truncate(family, processor.decode(ids)));
                bar.step();
            }
        }
        ObjectNode scored = Scoring.score(benchmark, docs, predictions, true);
        try {
            Files.createDirectories(out);
            new ObjectMapper().writerWithDefaultPrettyPrinter()
                    .writeValue(out.resolve("eval_" + variant + ".json").toFile(), scored);
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot write eval_" + variant + ".json", e);
        }
        return new Evaluation(variant, (ObjectNode) scored.get("aggregate"), (System.nanoTime() - t0) / 1e9, kv);
    }

    /** The accuracy table: one row per model, overall and per question type, in percent. */
    public static String table(List<Evaluation> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-14s %8s", "variant", "overall"));
        for (ShapesGenerator.Type t : ShapesGenerator.Type.values()) sb.append(String.format(Locale.ROOT, " %9s", t.key()));
        sb.append(String.format(Locale.ROOT, " %12s%n", "KV B/token"));
        for (Evaluation e : rows) {
            sb.append(String.format(Locale.ROOT, "%-14s %7.1f%%", e.variant(), 100 * e.accuracy()));
            for (ShapesGenerator.Type t : ShapesGenerator.Type.values()) {
                JsonNode v = e.aggregate().get(SyntheticShapes.ACCURACY + "_" + t.key());
                sb.append(v == null ? String.format(Locale.ROOT, " %9s", "-") : String.format(Locale.ROOT, " %8.1f%%", 100 * v.doubleValue()));
            }
            sb.append(String.format(Locale.ROOT, " %12d%n", e.kvBytesPerToken()));
        }
        return sb.toString();
    }

    static BufferedImage image(Doc d) {
        try {
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(d.images().get(0)));
            if (img == null) throw new IllegalArgumentException("doc " + d.text("id") + ": image is not a PNG ImageIO can read");
            return img;
        } catch (IOException e) {
            throw new UncheckedIOException("doc " + d.text("id") + ": cannot decode its image", e);
        }
    }
}
