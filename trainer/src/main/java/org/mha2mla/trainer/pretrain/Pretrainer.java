package org.mha2mla.trainer.pretrain;

import java.awt.image.BufferedImage;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.qwen25vl.Qwen25VlTrainingGraph;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.TextDecoder;
import org.mha2mla.trainer.AdamW;
import org.mha2mla.trainer.GradientClipping;
import org.mha2mla.trainer.LossLog;
import org.mha2mla.trainer.LossMask;
import org.mha2mla.trainer.LrSchedule;
import org.mha2mla.trainer.MaskedCrossEntropy;
import org.mha2mla.trainer.ModelFolder;
import org.mha2mla.trainer.data.ChatExampleEncoder;
import org.mha2mla.trainer.data.InstructDataset;
import org.mha2mla.trainer.data.InstructSample;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Pretraining of a Qwen2.5-VL model from scratch on LLaVA-instruct data: EVERY parameter (vision tower, merger,
 * decoder) trains through one differentiable graph ({@link Qwen25VlTrainingGraph}) with the masked cross-entropy on
 * the assistant tokens. The loop, as nanoGPT's:
 * <pre>
 *   for step in 0 … steps−1:
 *     B examples in a shuffled order (a new permutation every epoch, from the seed)
 *     gradients = ∂(Σ supervised CE)/∂θ / supervised tokens        (token mean)
 *     clip to the global norm;  AdamW with the warmup + cosine LR of this step
 *     log loss, LR, grad norm, tokens/s
 * </pre>
 * The data is read and encoded once (chat template, tokens, labels); each example keeps its decoded picture and is
 * patchified again when batched, which costs little and keeps memory at one small picture per example.
 */
public final class Pretrainer {

    /**
     * @param model         the initial model folder (e.g. {@link ScratchModel#write}); its side files are copied to {@code out}
     * @param data          LLaVA-instruct JSON; images resolve against its folder
     * @param out           where the trained model folder is written
     * @param lossCsv       the per-step log; the curve is drawn to {@code lossPng}
     * @param warmupFraction share of the steps with linear warmup; the rest decays to {@code minLr} on a cosine
     * @param adam          betas, eps and (decoupled) weight decay
     * @param budget        a wall-clock limit that may end the run in fewer than {@code steps} updates, or null
     */
    public record Options(Path model, Path data, Path out, Path lossCsv, Path lossPng, int steps, int batchSize,
                          double peakLr, double minLr, double warmupFraction, AdamW.Config adam, double maxGradNorm,
                          long seed, int maxLength, boolean progress, Budget budget) {
        public Options {
            if (steps < 1 || batchSize < 1) throw new IllegalArgumentException("need steps >= 1 and batch size >= 1");
        }

        /** Warmup updates: a share of {@code steps}, the same whatever a {@link Budget} later makes of the total. */
        public long warmup() {
            return Math.max(1, Math.round(steps * warmupFraction));
        }

        public LrSchedule schedule() {
            return schedule(steps);
        }

        /** Warmup, then the cosine down to {@code minLr} at update {@code total}. */
        public LrSchedule schedule(int total) {
            return new LrSchedule(peakLr, minLr, total, warmup(), total - warmup(), LrSchedule.Decay.COSINE);
        }
    }

    /**
     * A deadline for the run and what the caller still does after it. Once {@link #DECIDE_AFTER} updates are done
     * (the demo's warmup is 35, and its length does not depend on the total, so those updates followed the schedule
     * the run ends with, up to a few at the very top of the cosine), and again every {@link #REFIT} updates, the loop
     * measures its speed and plans the total that, with {@code afterwardUpdates} more, ends by {@code deadlineNanos}
     * (at most the options' steps): the cosine ends earlier on a slower machine, so the demo keeps its 15-minute budget
     * instead of overrunning it, and later again where the run has sped up since the last plan. The afterward work is counted in updates of the same machine because it is the same
     * kind of computation (conversion, fine-tuning and evaluation graphs) and scales with it.
     *
     * @param deadlineNanos    a {@link System#nanoTime} by which the caller's whole job should end
     * @param afterwardUpdates the caller's remaining work after this run, in pretraining updates
     */
    public record Budget(long deadlineNanos, double afterwardUpdates) {
        /**
         * Updates timed before the first decision, whose median is over the last {@link #WINDOW} of them: the first
         * few take ~5 s each (JIT, graph set-up), and up to ~20 are ~20% slower than the rest while ND4J's caches fill
         * (demo, 2 replicas: updates 6–20 took 1.46 s, 21–30 1.21 s), which made a median of 6–20 plan 375 updates
         * where 500 fitted.
         */
        public static final int DECIDE_AFTER = 40;
        /**
         * After the first decision the speed is measured again every this many updates (median of the last
         * {@link #WINDOW}) and the total planned again: the demo's updates slow down as a run goes
         * on (1.17 s at updates 21–40, 1.30 s at 300–389 in one run), which a single early decision overran by ~1 minute.
         */
        static final int REFIT = 50;
        static final int WINDOW = 20;

        static boolean decides(int step) {
            return step >= DECIDE_AFTER && (step - DECIDE_AFTER) % REFIT == 0;
        }
        /** The total is a multiple of this, so run-to-run timing noise rarely changes it. */
        public static final int GRANULARITY = 25;

        /**
         * The total that fits: {@code done} plus what {@code secondsLeft} allows at {@code secondsPerUpdate} once the
         * afterward work is set aside, rounded down to a multiple of {@link #GRANULARITY}; at least {@code done} plus
         * one granule and twice the warmup (a cosine needs room to decay), at most {@code maxSteps}.
         */
        public static int fit(int maxSteps, long warmup, int done, double secondsPerUpdate, double secondsLeft, double afterwardUpdates) {
            double room = secondsLeft / secondsPerUpdate - afterwardUpdates;
            long total = (long) Math.floor(done + Math.max(0, room)) / GRANULARITY * GRANULARITY;
            long floor = Math.max(done + GRANULARITY, 2 * warmup);
            return (int) Math.min(maxSteps, Math.max(floor, total));
        }
    }

    /**
     * What a run did: the log rows, wall time of the loop, examples available, mean tokens per second; and, where a
     * {@link Budget} measured the speed, its last median seconds per update (else NaN).
     */
    public record Result(List<LossLog.Row> rows, double seconds, int examples, double tokensPerSecond, double budgetSecondsPerUpdate) {
        public int steps() {
            return rows.size();
        }

        public double finalLoss() {
            return rows.get(rows.size() - 1).loss();
        }
    }

    /** One encoded sample: token ids and labels, its grid, and the picture to patchify when batched. */
    record Example(long[] ids, long[] labels, int[][] grid, BufferedImage picture) {
    }

    private final Qwen25VlTrainingGraph graph;
    private final SameDiff sd;
    private final ChatExampleEncoder.Processor processor;
    private final List<String> parameters = new ArrayList<>();
    private final Map<String, INDArray> params = new LinkedHashMap<>();
    private final Map<String, INDArray> grads = new LinkedHashMap<>();
    private final long vocab;
    /** Copies of this graph that compute the gradients of other shards of each batch in parallel (data parallelism). */
    private final List<Pretrainer> replicas = new ArrayList<>();
    private final ExecutorService pool;

    /**
     * Replicas for {@code cpus} cores: 2 where there are 2 or more. ND4J runs this small model's many small ops faster
     * on one OpenMP thread than on two, so the second core computes half of each batch instead: measured on 2 cores,
     * two shards of 16 took 1.13 s per update where one batch of 32 took 1.48 s (the cores share memory bandwidth).
     */
    public static int replicasFor(int cpus) {
        return Math.min(2, Math.max(1, cpus));
    }

    /** The graph over the weights of {@code model} (a Qwen2.5-VL folder), every tensor trainable; one replica. */
    public Pretrainer(Path model, ChatExampleEncoder.Processor processor) {
        this(model, processor, 1);
    }

    /**
     * As {@link #Pretrainer(Path, ChatExampleEncoder.Processor)}, with {@code replicas} copies of the graph that split
     * each batch between them: the update is the same (gradients summed over the shards, then divided by the batch's
     * supervised tokens), up to float summation order.
     */
    public Pretrainer(Path model, ChatExampleEncoder.Processor processor, int replicas) {
        if (replicas < 1) throw new IllegalArgumentException("need at least one replica, got " + replicas);
        VlmConfig config = HfConfigParser.read(model);
        if (!(config instanceof Qwen25VlConfig qwen)) {
            throw new IllegalArgumentException(model + "/config.json: pretraining supports qwen2_5_vl, not " + config.modelType());
        }
        SameDiff weights;
        try (Checkpoint c = Checkpoint.open(model)) {
            weights = Params.load(KeyLayout.canonical(c, qwen.modelType()));
        }
        this.graph = new Qwen25VlTrainingGraph(qwen, weights);
        this.sd = weights;
        this.processor = processor;
        this.vocab = qwen.textConfig().vocabSize();
        for (SDVariable v : sd.variables()) {
            if (v.getVariableType() == VariableType.VARIABLE) {
                parameters.add(v.name());
                params.put(v.name(), v.getArr());
                grads.put(v.name(), v.getArr().ulike());
            }
        }
        MaskedCrossEntropy.build(sd, graph.logits(), vocab);
        // SameDiff M2.1 prints a line per op to System.out while it builds the backward graph: keep the console for the progress bar.
        PrintStream console = System.out;
        System.setOut(new PrintStream(OutputStream.nullOutputStream()));
        try {
            sd.createGradFunction();
        } finally {
            System.setOut(console);
        }
        for (int r = 1; r < replicas; r++) this.replicas.add(new Pretrainer(model, processor, 1));
        // Daemon threads: a pretrainer has no close(), and idle workers must not keep the JVM alive.
        this.pool = replicas == 1 ? null : Executors.newFixedThreadPool(replicas - 1, task -> {
            Thread t = new Thread(task, "pretrain-replica");
            t.setDaemon(true);
            return t;
        });
    }

    public Qwen25VlTrainingGraph graph() {
        return graph;
    }

    /** Every parameter, in checkpoint order (all of them train). */
    public List<String> parameters() {
        return parameters;
    }

    Map<String, INDArray> params() {
        return params;
    }

    Map<String, INDArray> gradients() {
        return grads;
    }

    /** Every parameter's shape by name, in checkpoint order (what the optimizer keeps moments for). */
    Map<String, long[]> shapes() {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        params.forEach((n, p) -> shapes.put(n, p.shape()));
        return shapes;
    }

    /** The copies that compute the other shards of each batch (their weights follow this graph's after every update). */
    List<Pretrainer> replicas() {
        return replicas;
    }

    /** Reads and encodes every sample of {@code data} once (two threads: the chat template dominates). */
    List<Example> encode(Path data, int maxLength, long seed) {
        InstructDataset ds = InstructDataset.load(data, null, seed);
        ChatExampleEncoder encoder = new ChatExampleEncoder(processor);
        int imageToken = graph.config().imageTokenId();
        List<InstructSample> samples = ds.samples();
        Example[] out = new Example[samples.size()];
        IntStream.range(0, samples.size()).parallel().forEach(i -> {
            InstructSample s = samples.get(i);
            List<BufferedImage> pictures = ChatExampleEncoder.readImages(s, ds.imageRoot());
            if (pictures.size() != 1) {
                throw new IllegalArgumentException(data + ": sample '" + s.id() + "' has " + pictures.size()
                        + " images; pretraining batches one image per example");
            }
            TrainingExample.Capped c = encoder.encode(s, pictures).capped(maxLength, imageToken);
            if (c.example() == null) {
                throw new IllegalArgumentException(data + ": sample '" + s.id() + "' does not fit in " + maxLength + " tokens (" + c.dropped() + ")");
            }
            MultimodalInput in = c.example().input();
            out[i] = new Example(in.inputIds(), c.example().labels(), in.imageGridThw(), pictures.get(0));
        });
        return List.of(out);
    }

    /** Trains for {@code o.steps()} updates and writes the model folder {@code o.out()}. */
    public Result run(Options o, PrintStream log) {
        long t0 = System.nanoTime();
        List<Example> examples = encode(o.data(), o.maxLength(), o.seed());
        log.printf(Locale.ROOT, "pretraining %,d parameters on %d examples (%s), encoded in %.1f s; %d replica(s) share each batch%n",
                params.values().stream().mapToLong(INDArray::length).sum(), examples.size(), o.data().getFileName(),
                (System.nanoTime() - t0) / 1e9, 1 + replicas.size());
        AdamW adam = new AdamW(o.adam(), shapes());
        LrSchedule schedule = o.schedule();
        Random rng = new Random(o.seed());
        int[] order = permutation(examples.size(), rng);
        int next = 0;
        List<LossLog.Row> rows = new ArrayList<>();
        long start = System.nanoTime();
        long tokens = 0;
        int total = o.steps();
        double measured = Double.NaN;
        double[] updateSeconds = new double[o.steps()];
        try (LossLog lossLog = LossLog.open(o.lossCsv(), 0);
             ProgressBar bar = o.progress() ? new ProgressBarBuilder().setTaskName("pretrain").setInitialMax(o.steps())
                     .setUpdateIntervalMillis(500).continuousUpdate().build() : null) {
            for (int step = 0; step < total; step++) {
                if (o.budget() != null && Budget.decides(step)) {
                    measured = median(Arrays.copyOfRange(updateSeconds, step - Budget.WINDOW, step));
                    // Shortened or lengthened to what the latest speed fits: a shorten-only rule kept the cut of
                    // one slow window for the rest of the run (~2 minutes of a 15-minute demo left unused). A change
                    // is a granule or two, so the cosine moves by a few percent of its LR.
                    total = Budget.fit(o.steps(), o.warmup(), step, measured,
                            (o.budget().deadlineNanos() - System.nanoTime()) / 1e9, o.budget().afterwardUpdates());
                    schedule = o.schedule(total);
                    if (bar != null) bar.maxHint(total);
                }
                long s0 = System.nanoTime();
                List<Example> batch = new ArrayList<>();
                for (int b = 0; b < o.batchSize(); b++) {
                    if (next == order.length) {
                        order = permutation(examples.size(), rng);
                        next = 0;
                    }
                    batch.add(examples.get(order[next++]));
                }
                double lr = schedule.lr(step);
                StepResult r = step(batch, adam, lr, o.maxGradNorm());
                if (r.skipped()) log.println(GradientClipping.skipWarning("pretraining update " + (step + 1), r.loss(), r.nonFinite()));
                tokens += r.tokens();
                // SameDiff's intermediate arrays live off-heap and go back only when the JVM collects their wrappers,
                // which a big, quiet heap rarely does: without this the resident size grew to 22 GB at batch 32 and
                // every update paid page faults on fresh memory. Measured over 30 updates of the demo settings: with a
                // collection per update 1129 ms/update (median), peak resident 4.2 GB; without 1087–1249 ms and 11.7 GB,
                // plus several 6–7 s updates.
                System.gc();
                double seconds = (System.nanoTime() - s0) / 1e9;
                updateSeconds[step] = seconds;
                LossLog.Row row = new LossLog.Row(step + 1, r.loss(), lr, r.gradNorm(), r.tokens(), r.tokens() / seconds,
                        (System.nanoTime() - start) / 1e9);
                lossLog.append(row);
                rows.add(row);
                if (bar != null) {
                    bar.stepTo(step + 1);
                    bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f lr %.1e %.0f tok/s", r.loss(), lr, row.tokensPerSecond()));
                }
            }
            lossLog.writeCurve(o.lossPng(), "pretraining from scratch — " + o.data().getFileName());
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        Map<String, INDArray> values = new java.util.LinkedHashMap<>();
        for (String n : parameters) values.put(n, sd.getVariable(n).getArr());
        ModelFolder.write(new org.mha2mla.importers.weights.ArraySource(values, "pretrained model"), Map.of(), o.model(), o.out(), DType.F32);
        return new Result(rows, seconds, examples.size(), tokens / seconds, measured);
    }

    /**
     * Writes {@code file} in the golden format of the parity fixtures ({@code cN.input_ids}, {@code cN.pixel_values},
     * {@code cN.image_grid_thw}, {@code cN.logits} [L, vocab], {@code cN.generated_ids}) from the weights in memory,
     * computed by this training graph: {@code mha2mla parity} then checks that the saved folder, loaded by the
     * importer into the inference graphs, reproduces what was trained. Greedy ids are decoded without a cache (the
     * full sequence again per token) up to {@code newTokens} or the first end-of-sequence token, kept.
     */
    public void writeGolden(Path file, List<MultimodalInput> cases, int newTokens) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        Set<Integer> eos = new HashSet<>(graph.config().textConfig().eosTokenIds());
        for (int c = 0; c < cases.size(); c++) {
            MultimodalInput in = cases.get(c);
            INDArray logits = logits(in);
            long[] ids = in.inputIds();
            List<Long> generated = new ArrayList<>();
            INDArray last = logits;
            while (generated.size() < newTokens) {
                long token = last.getRow(last.rows() - 1).argMax().getLong(0);
                generated.add(token);
                if (eos.contains((int) token)) break;
                ids = Arrays.copyOf(ids, ids.length + 1);
                ids[ids.length - 1] = token;
                last = logits(new MultimodalInput(ids, in.pixelValues(), null, in.imageGridThw()));
            }
            long[] grid = Arrays.stream(in.imageGridThw()).flatMapToInt(Arrays::stream).asLongStream().toArray();
            out.put("c" + c + ".input_ids", Nd4j.createFromArray(in.inputIds()));
            out.put("c" + c + ".pixel_values", in.pixelValues());
            out.put("c" + c + ".image_grid_thw", Nd4j.createFromArray(grid));
            out.put("c" + c + ".logits", logits);
            out.put("c" + c + ".generated_ids", Nd4j.createFromArray(generated.stream().mapToLong(Long::longValue).toArray()));
        }
        SafeTensorsWriter.write(file, out, Map.of("format", "pt", "source", "mha2mla pretraining graph"), DType.F32);
    }

    /** Logits [L, vocab] of one prompt through the training graph. */
    INDArray logits(MultimodalInput in) {
        Map<String, INDArray> feed = graph.feed(List.of(in));
        INDArray l = sd.output(feed, TextDecoder.LOGITS).get(TextDecoder.LOGITS);
        return l.reshape(l.size(1), l.size(2)).dup();
    }

    /** One update's figures; {@code nonFinite} names the NaN/infinite gradients of an update that was skipped. */
    record StepResult(double loss, double gradNorm, int tokens, List<String> nonFinite) {
        boolean skipped() {
            return !nonFinite.isEmpty();
        }
    }

    /** One optimizer update on {@code batch}, skipped (weights and AdamW state unchanged) if a gradient is not finite. */
    StepResult step(List<Example> batch, AdamW adam, double lr, double maxGradNorm) {
        Gradients g = gradients(batch);
        double norm = GradientClipping.clipGlobalNorm(grads, maxGradNorm);
        if (!Double.isFinite(norm)) return new StepResult(g.loss(), norm, g.tokens(), GradientClipping.nonFinite(grads));
        adam.update(params, grads, lr);
        for (Pretrainer r : replicas) r.params.forEach((n, p) -> p.assign(params.get(n)));
        return new StepResult(g.loss(), norm, g.tokens(), List.of());
    }

    /** The token-mean loss of a batch and its token count (padding excluded). */
    record Gradients(double loss, int tokens) {
    }

    /**
     * Fills the gradient buffers with ∂(token-mean CE)/∂θ of {@code batch}, its contiguous shards computed by the
     * replicas in parallel (the main graph's shard on the calling thread).
     */
    Gradients gradients(List<Example> batch) {
        List<Pretrainer> workers = new ArrayList<>();
        workers.add(this);
        workers.addAll(replicas);
        int shards = Math.min(workers.size(), batch.size());
        // The feeds are built here, one thread: patchifying shares the processor, and costs little.
        List<Batch> parts = new ArrayList<>();
        for (int i = 0; i < shards; i++) {
            parts.add(workers.get(i).batch(batch.subList(i * batch.size() / shards, (i + 1) * batch.size() / shards)));
        }
        List<Future<Double>> others = new ArrayList<>();
        for (int i = 1; i < shards; i++) {
            Pretrainer w = workers.get(i);
            Batch part = parts.get(i);
            others.add(pool.submit(() -> w.accumulateSum(part)));
        }
        double ceSum = accumulateSum(parts.get(0));
        try {
            for (Future<Double> f : others) ceSum += f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the replicas computed their gradients", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("a pretraining replica failed: " + e.getCause().getMessage(), e.getCause());
        }
        int supervised = 0;
        int tokens = 0;
        for (Batch part : parts) {
            supervised += part.supervised();
            tokens += part.tokens();
            // ND4J frees off-heap buffers only when their Java objects are collected; a step's inputs are large (one-hot
            // tokens, pixels, masks) and a big heap collects rarely, so release them now to keep the resident size flat.
            part.feed().values().forEach(INDArray::close);
        }
        for (String n : parameters) {
            INDArray g = grads.get(n);
            for (int i = 1; i < shards; i++) g.addi(workers.get(i).grads.get(n));
            g.divi(supervised);
        }
        return new Gradients(ceSum / supervised, tokens);
    }

    /** The placeholders and targets of one batch. */
    record Batch(Map<String, INDArray> feed, long[][] targets, int tokens) {
        int supervised() {
            return MaskedCrossEntropy.countSupervised(targets);
        }
    }

    Batch batch(List<Example> examples) {
        List<MultimodalInput> inputs = new ArrayList<>();
        int length = examples.stream().mapToInt(e -> e.ids().length).max().orElseThrow();
        long[][] targets = new long[examples.size()][];
        int tokens = 0;
        for (int i = 0; i < examples.size(); i++) {
            Example e = examples.get(i);
            ChatExampleEncoder.Images images = processor.images(List.of(e.picture()));
            inputs.add(new MultimodalInput(e.ids(), images.pixelValues(), null, e.grid()));
            long[] t = Arrays.copyOf(LossMask.shift(e.labels()), length);
            Arrays.fill(t, e.ids().length, length, LossMask.IGNORE_INDEX);
            targets[i] = t;
            tokens += e.ids().length;
        }
        Map<String, INDArray> feed = new LinkedHashMap<>(graph.feed(inputs));
        feed.putAll(MaskedCrossEntropy.feed(targets, vocab));
        return new Batch(feed, targets, tokens);
    }

    /** Fills the gradient buffers with ∂(token-mean CE)/∂θ of {@code b} (this graph alone) and returns that loss. */
    double accumulate(Batch b) {
        double ceSum = accumulateSum(b);
        int supervised = b.supervised();
        grads.values().forEach(g -> g.divi(supervised));
        return ceSum / supervised;
    }

    /** Fills the gradient buffers with ∂(Σ supervised CE)/∂θ of {@code b} and returns that sum. */
    double accumulateSum(Batch b) {
        OutAndGrad og = sd.calculateGradientsAndOutputs(b.feed(), List.of(MaskedCrossEntropy.PER_POSITION), parameters);
        double ceSum = MaskedCrossEntropy.supervisedSum(og.getOutputs().get(MaskedCrossEntropy.PER_POSITION), b.targets());
        for (String n : parameters) {
            INDArray g = og.getGradients().get(n);
            if (g == null) throw new IllegalStateException("no gradient reached parameter '" + n + "': is it on the path to the logits?");
            grads.get(n).assign(g);
            g.close();
        }
        og.getOutputs().values().forEach(INDArray::close);
        return ceSum;
    }

    /** The token-mean loss of {@code b} at the current parameters (forward only). */
    double loss(Batch b) {
        INDArray per = sd.output(b.feed(), MaskedCrossEntropy.PER_POSITION).get(MaskedCrossEntropy.PER_POSITION);
        return MaskedCrossEntropy.supervisedSum(per, b.targets()) / b.supervised();
    }

    /** The upper median; sorts {@code values}. */
    private static double median(double[] values) {
        Arrays.sort(values);
        return values[values.length / 2];
    }

    private static int[] permutation(int n, Random rng) {
        int[] p = IntStream.range(0, n).toArray();
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
