package org.mha2mla.trainer.pretrain;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.weights.ArraySource;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.qwen25vl.Qwen25VlTrainingGraph;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.TextDecoder;
import org.mha2mla.trainer.AdamW;
import org.mha2mla.trainer.FreezeMask;
import org.mha2mla.trainer.GradientSource;
import org.mha2mla.trainer.LossLog;
import org.mha2mla.trainer.LossMask;
import org.mha2mla.trainer.LrSchedule;
import org.mha2mla.trainer.MicroBatch;
import org.mha2mla.trainer.ModelFolder;
import org.mha2mla.trainer.PeftStage;
import org.mha2mla.trainer.ReplicatedGradients;
import org.mha2mla.trainer.TrainingLoop;
import org.mha2mla.trainer.WholeGraphGradients;
import org.mha2mla.trainer.data.ChatExampleEncoder;
import org.mha2mla.trainer.data.EncodedExamples;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Pretraining of a Qwen2.5-VL model from scratch on LLaVA-instruct data: the training loop of the PEFT stages
 * ({@link TrainingLoop}, {@link PeftStage}) with every parameter trainable ({@link FreezeMask#all}) and, as gradient
 * source, the whole model as one differentiable graph — vision tower, merger and decoder ({@link Qwen25VlTrainingGraph})
 * — in one copy per core ({@link ReplicatedGradients}). The examples are encoded once and visited in shuffled epochs
 * ({@link EncodedExamples}); the schedule is a linear warmup and a cosine to {@code minLr}, stretched over whatever
 * length the caller's {@link TrainingLoop.Horizon} plans.
 */
public final class Pretrainer {

    /**
     * @param model          the initial model folder (e.g. {@link ScratchModel#write}); its side files are copied to {@code out}
     * @param data           LLaVA-instruct JSON; images resolve against its folder
     * @param out            where the trained model folder is written
     * @param lossCsv        the per-step log; the curve is drawn to {@code lossPng}
     * @param steps          updates, unless {@code horizon} plans another total
     * @param warmupFraction share of {@code steps} with linear warmup; the rest decays to {@code minLr} on a cosine
     * @param adam           betas, eps and (decoupled) weight decay
     * @param horizon        plans the run's length as it goes (the demo's time budget), or {@link TrainingLoop.Horizon#FIXED}
     */
    public record Options(Path model, Path data, Path out, Path lossCsv, Path lossPng, int steps, int batchSize,
                          double peakLr, double minLr, double warmupFraction, AdamW.Config adam, double maxGradNorm,
                          long seed, int maxLength, boolean progress, TrainingLoop.Horizon horizon) {
        public Options {
            if (steps < 1 || batchSize < 1) throw new IllegalArgumentException("need steps >= 1 and batch size >= 1");
            if (horizon == null) horizon = TrainingLoop.Horizon.FIXED;
        }

        /** Warmup updates: a share of {@code steps}, the same whatever a horizon later makes of the total. */
        public long warmup() {
            return warmup(steps, warmupFraction);
        }

        public static long warmup(int steps, double warmupFraction) {
            return Math.max(1, Math.round(steps * warmupFraction));
        }

        public LrSchedule schedule() {
            return schedule(steps);
        }

        /** Warmup, then the cosine down to {@code minLr} after update {@code total}. */
        public LrSchedule schedule(long total) {
            return new LrSchedule(peakLr, minLr, total, warmup(), total - warmup(), LrSchedule.Decay.COSINE);
        }
    }

    /** What a run did: the log rows, wall time of the updates, examples available, mean tokens per second. */
    public record Result(List<LossLog.Row> rows, double seconds, int examples, double tokensPerSecond) {
        public int steps() {
            return rows.size();
        }

        public double finalLoss() {
            return rows.get(rows.size() - 1).loss();
        }
    }

    private final Qwen25VlConfig config;
    private final ChatExampleEncoder.Processor processor;
    /** The first replica's graph: its weights are the trained ones. */
    private final Qwen25VlTrainingGraph graph;
    private final ReplicatedGradients source;

    /** The graph over the weights of {@code model} (a Qwen2.5-VL folder), every tensor trainable; one replica. */
    public Pretrainer(Path model, ChatExampleEncoder.Processor processor) {
        this(model, processor, 1);
    }

    /**
     * As {@link #Pretrainer(Path, ChatExampleEncoder.Processor)}, with {@code replicas} copies of the graph that split
     * each batch between them: the update is the same up to float summation order ({@link ReplicatedGradients}).
     */
    public Pretrainer(Path model, ChatExampleEncoder.Processor processor, int replicas) {
        if (replicas < 1) throw new IllegalArgumentException("need at least one replica, got " + replicas);
        VlmConfig c = HfConfigParser.read(model);
        if (!(c instanceof Qwen25VlConfig qwen)) {
            throw new IllegalArgumentException(model + "/config.json: pretraining supports qwen2_5_vl, not " + c.modelType());
        }
        this.config = qwen;
        this.processor = processor;
        List<Qwen25VlTrainingGraph> graphs = new ArrayList<>();
        List<GradientSource> sources = new ArrayList<>();
        for (int r = 0; r < replicas; r++) {
            SameDiff weights;
            try (Checkpoint ck = Checkpoint.open(model)) {
                weights = Params.load(KeyLayout.canonical(ck, qwen.modelType()));
            }
            Qwen25VlTrainingGraph g = new Qwen25VlTrainingGraph(qwen, weights);
            graphs.add(g);
            sources.add(new WholeGraphGradients(weights, g.decoder(), FreezeMask.all(), examples -> batch(g, examples)));
        }
        this.graph = graphs.get(0);
        this.source = new ReplicatedGradients(sources);
    }

    /** The placeholders of one share of a batch: each example's one image through the training graph's own feed. */
    static MicroBatch batch(Qwen25VlTrainingGraph graph, List<TrainingExample> examples) {
        int length = examples.stream().mapToInt(TrainingExample::length).max().orElseThrow();
        long[][] targets = new long[examples.size()][];
        List<MultimodalInput> inputs = new ArrayList<>();
        int tokens = 0;
        for (int i = 0; i < examples.size(); i++) {
            TrainingExample e = examples.get(i);
            inputs.add(e.input());
            targets[i] = Arrays.copyOf(e.targets(), length);
            Arrays.fill(targets[i], e.length(), length, LossMask.IGNORE_INDEX);
            tokens += e.length();
        }
        return new MicroBatch(graph.feed(inputs), targets, tokens);
    }

    public Qwen25VlTrainingGraph graph() {
        return graph;
    }

    /** The gradient source (tests reach the replicas through it). */
    ReplicatedGradients source() {
        return source;
    }

    /** Every parameter, in checkpoint order (all of them train). */
    public List<String> parameters() {
        return List.copyOf(source.parameterSizes().keySet());
    }

    /** Trains for {@code o.steps()} updates (or what its horizon plans) and writes the model folder {@code o.out()}. */
    public Result run(Options o, PrintStream log) {
        long t0 = System.nanoTime();
        EncodedExamples examples = EncodedExamples.encode(o.data(), processor, o.maxLength(), config.imageTokenId(), o.seed());
        log.printf(Locale.ROOT, "pretraining %,d parameters on %d examples (%s), encoded in %.1f s; %d replica(s) share each batch%n",
                source.parameterSizes().values().stream().mapToLong(Long::longValue).sum(), examples.size(), o.data().getFileName(),
                (System.nanoTime() - t0) / 1e9, source.replicas().size());
        PeftStage stage = new PeftStage(source, FreezeMask.all(), o.adam(), o.maxGradNorm());
        TrainingLoop.Settings settings = TrainingLoop.Settings.builder("pretraining", o.steps(), o::schedule, o.lossCsv())
                .microBatchSize(o.batchSize()).horizon(o.horizon())
                .curve(o.lossPng(), "pretraining from scratch — " + o.data().getFileName())
                .adam(o.adam()).seed(o.seed()).progress(o.progress()).collectGarbage(true).build();
        TrainingLoop.Result r = TrainingLoop.run(stage, examples, settings, TrainingLoop.Start.FRESH, log);
        Map<String, INDArray> values = new LinkedHashMap<>(source.trainable());
        ModelFolder.write(new ArraySource(values, "pretrained model"), Map.of(), o.model(), o.out(), DType.F32);
        return new Result(r.rows(), r.seconds(), examples.size(), r.tokens() / r.seconds());
    }

    /**
     * Logits [L, vocab] of one prompt through the training graph at the current weights: what the saved folder must
     * reproduce once loaded by the inference path (the demo records them as golden logits for {@code mha2mla parity}).
     */
    public INDArray logits(MultimodalInput in) {
        Map<String, INDArray> feed = graph.feed(List.of(in));
        INDArray l = graph.sameDiff().output(feed, TextDecoder.LOGITS).get(TextDecoder.LOGITS);
        feed.values().forEach(INDArray::close);
        return l.reshape(l.size(1), l.size(2)).dup();
    }

    /** The end-of-sequence ids of the model's text config (where golden generations stop). */
    public List<Integer> eosTokenIds() {
        return config.textConfig().eosTokenIds();
    }
}
