import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.mha2mla.cli.demo.DemoPipeline;
import org.mha2mla.evaluation.synthetic.ShapesGenerator;
import org.mha2mla.evaluation.synthetic.SyntheticShapesData;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.text.OneDnnHelpers;
import org.mha2mla.trainer.ReplicatedGradients;
import org.mha2mla.trainer.AdamW;
import org.mha2mla.trainer.LossLog;
import org.mha2mla.trainer.data.ModelProcessor;
import org.mha2mla.trainer.pretrain.Pretrainer;
import org.mha2mla.trainer.pretrain.ScratchModel;
import org.mha2mla.trainer.pretrain.WordLevelTokenizer;

/**
 * Time per phase of the demo's step 1 with the demo's own settings (full or --quick), on fewer steps: data writing,
 * encoding, ms per pretraining update (median over the timed updates), and greedy evaluation per held-out question.
 * Multiply ms/update by the setting's steps for the pretraining time of a real run.
 *
 *   benchmarks/pretrain/run.sh [--quick] [--steps 40] [--questions 20] [--replicas N]   (OMP_NUM_THREADS=1 to pin one thread)
 *
 * --replicas: graphs sharing each batch, one per core (default: the demo's choice for this machine's cores).
 */
public final class PretrainBenchmark {

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new LinkedHashMap<>(Map.of("steps", "40", "questions", "20",
                "replicas", Integer.toString(ReplicatedGradients.replicasFor(Runtime.getRuntime().availableProcessors()))));
        boolean quick = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--quick")) quick = true;
            else if (i + 1 < args.length) a.put(args[i].replaceFirst("^--", ""), args[++i]);
        }
        DemoPipeline.Settings s = quick ? DemoPipeline.Settings.quick() : DemoPipeline.Settings.full();
        int steps = Integer.parseInt(a.get("steps"));
        int perType = Math.max(1, Integer.parseInt(a.get("questions")) / ShapesGenerator.Type.values().length);
        Path dir = Files.createTempDirectory("pretrain-bench");
        System.out.printf(Locale.ROOT, "settings %s: %s, %d steps × batch %d in the real run; %d CPUs visible, OMP_NUM_THREADS=%s%n",
                s.name(), s.model(), s.steps(), s.batchSize(), Runtime.getRuntime().availableProcessors(), System.getenv("OMP_NUM_THREADS"));
        System.out.println(OneDnnHelpers.productsChoice());

        long t0 = System.nanoTime();
        SyntheticShapesData.Sizes sizes = new SyntheticShapesData.Sizes(s.data().imageSize(), s.data().trainImages(), 0, perType);
        SyntheticShapesData.Splits splits = SyntheticShapesData.write(dir.resolve("data"), sizes, 1);
        double dataS = (System.nanoTime() - t0) / 1e9;

        WordLevelTokenizer tokenizer = WordLevelTokenizer.of(ShapesGenerator.vocabulary());
        Path init = dir.resolve("init");
        ScratchModel.write(init, s.model(), tokenizer, ScratchModel.initialWeights(s.model(), tokenizer.size(), 1));
        Pretrainer.Result r;
        long e0 = System.nanoTime();
        try (ModelProcessor p = ModelProcessor.load(init)) {
            Pretrainer.Options o = new Pretrainer.Options(init, splits.train(), dir.resolve("model"), dir.resolve("loss.csv"),
                    dir.resolve("loss.png"), steps, s.batchSize(), s.peakLr(), s.minLr(), s.warmupFraction(),
                    new AdamW.Config(0.9, s.beta2(), 1e-8, s.weightDecay()), s.maxGradNorm(), 1, s.maxLength(), false, null);
            r = new Pretrainer(init, p, Integer.parseInt(a.get("replicas"))).run(o, System.out);
        }
        double totalS = (System.nanoTime() - e0) / 1e9;
        double[] perStep = new double[r.rows().size() - 1];
        List<LossLog.Row> rows = r.rows();
        for (int i = 1; i < rows.size(); i++) perStep[i - 1] = rows.get(i).elapsedSeconds() - rows.get(i - 1).elapsedSeconds();
        Arrays.sort(perStep);
        double median = perStep[perStep.length / 2];
        double encodeS = totalS - r.seconds();

        DemoPipeline.Evaluation e = new DemoPipeline(dir.resolve("out"), s, 1, System.out).evaluate(dir.resolve("model"), splits, "bench", "pretrained",
                CachePolicy.FULL);
        int questions = e.result().aggregate().get("n").intValue();

        System.out.println();
        System.out.printf(Locale.ROOT, "%-34s %10s%n", "phase", "time");
        System.out.printf(Locale.ROOT, "%-34s %9.1f s%n", "data (" + s.data().trainImages() + " train images + test)", dataS);
        System.out.printf(Locale.ROOT, "%-34s %9.1f s%n", "encode + graph build + save", encodeS);
        System.out.printf(Locale.ROOT, "%-34s %8.0f ms  (%.0f tokens/s)%n", "pretraining update (median)", median * 1e3, r.tokensPerSecond());
        System.out.printf(Locale.ROOT, "%-34s %9.1f s%n", "→ pretraining, " + s.steps() + " updates", median * s.steps());
        System.out.printf(Locale.ROOT, "%-34s %8.0f ms%n", "greedy answer per question", 1e3 * e.result().seconds() / questions);
        System.out.printf(Locale.ROOT, "%-34s %9.1f s%n", "→ evaluation, " + s.data().testPerType() * 5 + " questions",
                e.result().seconds() / questions * s.data().testPerType() * 5);
    }
}
