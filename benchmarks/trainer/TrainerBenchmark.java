import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.layers.text.OneDnnHelpers;
import org.mha2mla.trainer.AdamW;
import org.mha2mla.trainer.FreezeMask;
import org.mha2mla.trainer.GradientSource;
import org.mha2mla.trainer.LayerwiseGradients;
import org.mha2mla.trainer.PeftStage;
import org.mha2mla.trainer.ReplicatedGradients;
import org.mha2mla.trainer.WholeGraphGradients;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Training throughput of the two PEFT stages: optimizer updates on random token sequences (the last quarter of
 * each supervised), tokens/s = input tokens per second of full updates (forward, backward, clipping, AdamW), through
 * each gradient source (the whole decoder as one graph, and layer by layer with recomputation).
 *
 * Stage 1 trains q/k of a random Qwen2.5-VL-shaped model written to a temp folder (text decoder sized by the flags,
 * the tiny vision tower of the test fixture); stage 2 trains the MLA parameters of that model converted in-process
 * (MKL partial RoPE d_r = d_h/4, MD-SVD d_kv = d_h/4, calibrated on random text), or of --mla-model DIR.
 *
 *   benchmarks/trainer/run.sh [--d 512] [--layers 4] [--heads 8] [--kv-heads 2] [--ff 1408] [--vocab 8192]
 *                             [--seq 256] [--batch 1,4] [--steps 12] [--warmup 20] [--sources graph,layers]
 *                             [--stages 1,2] [--model DIR] [--mla-model DIR] [--profile true] [--vary 0]
 *
 * --profile true times the graphs' ops of one update per source (the whole graph: two updates by phase; layer by layer:
 * every layer graph and gradient function), e.g. one LLaVA-NeXT-shaped stage-2 update at 3,072 tokens in query blocks:
 *   benchmarks/trainer/run.sh --model DIR --mla-model DIR --stages 2 --sources layers --seq 3072 --batch 1 --steps 0 --warmup 0 --profile true
 *
 * Each measured row is also printed as "RESULT stage source batch ms/update tokens/s" for run.sh's table.
 */
public final class TrainerBenchmark {

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new LinkedHashMap<>(Map.of("d", "512", "layers", "4", "heads", "8", "kv-heads", "2", "ff", "1408",
                "vocab", "8192", "seq", "256", "batch", "1,4", "steps", "12", "warmup", "20"));
        a.put("sources", "graph,layers");
        a.put("stages", "1,2");
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        int seq = Integer.parseInt(a.get("seq"));
        int steps = Integer.parseInt(a.get("steps"));
        int warmup = Integer.parseInt(a.get("warmup"));
        int[] batches = Arrays.stream(a.get("batch").split(",")).mapToInt(Integer::parseInt).toArray();
        List<GradientSource.Kind> sources = Arrays.stream(a.get("sources").split(","))
                .map(k -> GradientSource.Kind.valueOf(k.toUpperCase(Locale.ROOT))).toList();
        List<String> stages = List.of(a.get("stages").split(","));
        profile = Boolean.parseBoolean(a.getOrDefault("profile", "false"));
        vary = Integer.parseInt(a.getOrDefault("vary", "0"));

        Path model = a.containsKey("model") ? Path.of(a.get("model")) : randomQwenModel(a);
        if (!a.containsKey("model")) Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(model)));
        System.out.printf(Locale.ROOT, "ND4J %s, %d CPU threads visible; sequence %d tokens (last %d supervised), %d timed updates after %d warm-up%n",
                Nd4j.getBackend().getClass().getSimpleName(), Runtime.getRuntime().availableProcessors(), seq, seq / 4, steps, warmup);
        System.out.println(OneDnnHelpers.productsChoice());
        System.out.printf("%-8s %-15s %-42s %6s %10s %10s %12s%n", "stage", "source", "trainable", "batch", "ms/update", "tokens/s", "sup.tok/s");
        for (GradientSource.Kind source : sources) {
            if (stages.contains("1")) {
                try (VisionLanguageModel m = VlmLoader.load(model)) {
                    run("1", source, m, FreezeMask.stage1(), seq, batches, steps, warmup);
                }
            }
            if (stages.contains("2")) {
                try (VisionLanguageModel m = mlaModel(a, model, seq)) {
                    run("2", source, m, FreezeMask.stage2(), seq, batches, steps, warmup);
                }
            }
        }
    }

    static boolean profile;
    /**
     * --vary K: the updates alternate between sequences of {@code seq} and {@code seq − K} tokens, as micro-batches of
     * instruction data padded to their longest example change shape from one update to the next (K = 0: one shape).
     */
    static int vary;

    /**
     * --profile true: the phases of two updates (gradients, clipping, AdamW, timed apart) and the graph's ops, timed
     * one by one through a SameDiff listener and summed by op type and by forward/backward; the rest of the gradient
     * pass (SameDiff's own Java work between the ops, array allocation) is the wall time less the ops' sum. With two
     * replicas the ops timed are the first replica's, on its share of the batch, and the wall time also waits for the other.
     */
    static void profile(String stageName, int b, PeftStage stage, WholeGraphGradients g, List<GradientSource.Batch> mb) {
        org.nd4j.autodiff.samediff.SameDiff sd = g.sameDiff();
        OpTimes times = new OpTimes();
        org.nd4j.autodiff.samediff.SameDiff gradFn = sd.getFunction("grad");
        int reps = 2;
        long grad = 0, clip = 0, adam = 0;
        CountingMemMgr mem = CountingMemMgr.install(gradFn);
        for (int r = 0; r < reps; r++) {
            OneDnnHelpers.attachTo(sd, times);
            long t0 = System.nanoTime();
            stage.accumulateGradients(mb);
            long t1 = System.nanoTime();
            OneDnnHelpers.attachTo(sd);
            org.mha2mla.trainer.GradientClipping.clipGlobalNorm(stage.gradients(), 1.0);
            long t2 = System.nanoTime();
            stage.optimizer().update(stage.trainableParams(), new LinkedHashMap<>(stage.gradients()), 1e-5);
            long t3 = System.nanoTime();
            grad += t1 - t0;
            clip += t2 - t1;
            adam += t3 - t2;
        }
        System.out.printf(Locale.ROOT, "PROFILE stage %s batch %d: graph %d ops (gradient graph %d ops); per update: gradients %.1f ms "
                        + "(ops %.1f ms: forward %.1f, backward %.1f; between ops %.1f), clipping %.1f ms, AdamW %.1f ms%n",
                stageName, b, sd.ops().length, gradFn == null ? -1 : gradFn.ops().length, grad / 1e6 / reps, times.total() / 1e6 / reps,
                times.forward / 1e6 / reps, times.backward / 1e6 / reps, (grad - times.total()) / 1e6 / reps, clip / 1e6 / reps, adam / 1e6 / reps);
        var pass = mem == null ? (org.mha2mla.layers.text.PassArrays) sd.getFunction("grad").getSessions().get(Thread.currentThread().getId()).getMmgr() : null;
        if (pass != null) {
            System.out.printf(Locale.ROOT, "PROFILE   array allocation: PassArrays, %d arrays reused, %d allocated so far%n", pass.reused(), pass.allocated());
        }
        if (mem != null) {
            System.out.printf(Locale.ROOT, "PROFILE   array allocation: %d allocations/update, %.0f MB/update, %.1f ms/update inside SameDiff's allocator; "
                    + "%d releases/update%n", mem.allocations / reps, mem.bytes / 1e6 / reps, mem.nanos / 1e6 / reps, mem.releases / reps);
        }
        long g0 = System.nanoTime();
        System.gc();
        System.out.printf(Locale.ROOT, "PROFILE   System.gc() (TrainingLoop's collectGarbage, off in this benchmark): %.1f ms%n", (System.nanoTime() - g0) / 1e6);
        times.byOp.entrySet().stream().sorted((x, y) -> Long.compare(y.getValue()[0], x.getValue()[0])).limit(25)
                .forEach(e -> System.out.printf(Locale.ROOT, "PROFILE   %-40s %8.1f ms %6d calls%n", e.getKey(), e.getValue()[0] / 1e6 / reps,
                        e.getValue()[1] / reps));
    }

    /**
     * --profile true for the layer-by-layer source: one update's gradients, the ops of every layer graph and gradient
     * function timed one by one and summed by op type and by forward/backward (the forward pass, the recomputation and
     * the query blocks all count as forward); the rest is the wall time less the ops' sum.
     */
    static void profile(String stageName, int b, PeftStage stage, LayerwiseGradients g, List<GradientSource.Batch> mb) {
        OpTimes times = new OpTimes();
        g.setListeners(times);
        long t0 = System.nanoTime();
        stage.accumulateGradients(mb);
        long grad = System.nanoTime() - t0;
        g.setListeners();
        System.out.printf(Locale.ROOT, "PROFILE stage %s batch %d, layer by layer: gradients %.1f ms (ops %.1f ms: forward %.1f, backward %.1f; "
                        + "between ops and outside the graphs %.1f)%n", stageName, b, grad / 1e6, times.total() / 1e6, times.forward / 1e6,
                times.backward / 1e6, (grad - times.total()) / 1e6);
        times.byOp.entrySet().stream().sorted((x, y) -> Long.compare(y.getValue()[0], x.getValue()[0])).limit(25)
                .forEach(e -> System.out.printf(Locale.ROOT, "PROFILE   %-40s %8.1f ms %6d calls%n", e.getKey(), e.getValue()[0] / 1e6,
                        e.getValue()[1]));
    }

    /** Counts and times the gradient session's array allocations (SameDiff's ArrayCacheMemoryMgr underneath). */
    static final class CountingMemMgr implements org.nd4j.autodiff.samediff.internal.SessionMemMgr {
        final org.nd4j.autodiff.samediff.internal.SessionMemMgr inner;
        long allocations, bytes, nanos, releases;

        CountingMemMgr(org.nd4j.autodiff.samediff.internal.SessionMemMgr inner) {
            this.inner = inner;
        }

        static CountingMemMgr install(org.nd4j.autodiff.samediff.SameDiff gradFn) {
            try {
                java.lang.reflect.Field f = org.nd4j.autodiff.samediff.SameDiff.class.getDeclaredField("sessions");
                f.setAccessible(true);
                @SuppressWarnings("unchecked")
                Map<Long, org.nd4j.autodiff.samediff.internal.InferenceSession> sessions = (Map<Long, org.nd4j.autodiff.samediff.internal.InferenceSession>) f.get(gradFn);
                var session = sessions.get(Thread.currentThread().getId());
                if (session == null || session.getMmgr() instanceof org.mha2mla.layers.text.PassArrays) return null;
                CountingMemMgr c = new CountingMemMgr(session.getMmgr());
                session.setMmgr(c);
                return c;
            } catch (ReflectiveOperationException e) {
                return null;
            }
        }

        private INDArray counted(long t0, INDArray a) {
            nanos += System.nanoTime() - t0;
            allocations++;
            bytes += a.length() * a.dataType().width();
            return a;
        }

        @Override
        public INDArray allocate(boolean detached, DataType dataType, long... shape) {
            return counted(System.nanoTime(), inner.allocate(detached, dataType, shape));
        }

        @Override
        public INDArray allocate(boolean detached, org.nd4j.linalg.api.shape.LongShapeDescriptor descriptor) {
            return counted(System.nanoTime(), inner.allocate(detached, descriptor));
        }

        @Override
        public INDArray ulike(INDArray arr) {
            return counted(System.nanoTime(), inner.ulike(arr));
        }

        @Override
        public INDArray dup(INDArray arr) {
            return counted(System.nanoTime(), inner.dup(arr));
        }

        @Override
        public void release(INDArray array) {
            releases++;
            inner.release(array);
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    /** Wall time of every op execution, by op type ("(bwd)" for ops of the backward pass). */
    static final class OpTimes extends org.nd4j.autodiff.listeners.BaseListener {
        final Map<String, long[]> byOp = new LinkedHashMap<>();
        long forward;
        long backward;
        private long start;

        @Override
        public boolean isActive(org.nd4j.autodiff.listeners.Operation operation) {
            return true;
        }

        @Override
        public void preOpExecution(org.nd4j.autodiff.samediff.SameDiff sd, org.nd4j.autodiff.listeners.At at,
                                   org.nd4j.autodiff.samediff.internal.SameDiffOp op, org.nd4j.linalg.api.ops.OpContext ctx) {
            start = System.nanoTime();
        }

        @Override
        public void opExecution(org.nd4j.autodiff.samediff.SameDiff sd, org.nd4j.autodiff.listeners.At at,
                                org.nd4j.linalg.dataset.api.MultiDataSet batch, org.nd4j.autodiff.samediff.internal.SameDiffOp op,
                                org.nd4j.linalg.api.ops.OpContext ctx, INDArray[] outputs) {
            long dt = System.nanoTime() - start;
            boolean bwd = op.getOutputsOfOp() != null && op.getOutputsOfOp().stream().anyMatch(n -> n.contains("-grad"));
            if (bwd) backward += dt; else forward += dt;
            long[] t = byOp.computeIfAbsent(op.getOp().opName() + (bwd ? " (bwd)" : ""), k -> new long[2]);
            t[0] += dt;
            t[1]++;
        }

        long total() {
            return forward + backward;
        }
    }

    /** --mla-model, or the model converted in-process: MKL partial RoPE, MD-SVD at d_kv = d_h/4, on random text. */
    static VisionLanguageModel mlaModel(Map<String, String> a, Path model, int seq) {
        if (a.containsKey("mla-model")) return VlmLoader.load(Path.of(a.get("mla-model")));
        // The original stays open: the converted model reads its untouched tensors (the process ends after the run).
        VisionLanguageModel original = VlmLoader.load(model);
        {
            int dh = original.config().textConfig().headDim();
            java.util.Random rng = new java.util.Random(2);
            List<MultimodalInput> calibration = new ArrayList<>();
            for (TrainingExample e : examples(rng, 4, seq, (int) original.config().textConfig().vocabSize(), original.config().imageTokenId())) {
                calibration.add(e.input());
            }
            // The calibration is random text (no image), so one joint factorisation (SVD-LLM) rather than MD-SVD's two.
            Mha2MlaConverter.Options o = Mha2MlaConverter.Options.builder(dh / 4).svd(org.mha2mla.core.svd.SvdMethod.SVD_LLM).build();
            return Mha2MlaConverter.convert(original, calibration, o).model();
        }
    }

    static void run(String stageName, GradientSource.Kind kind, VisionLanguageModel m, FreezeMask mask, int seq, int[] batches,
                    int steps, int warmup) {
        try (GradientSource source = kind.open(m, mask)) {
            PeftStage stage = new PeftStage(source, mask, AdamW.Config.defaults(0.01), 1.0);
            String trainable = stage.summary().replaceFirst("^[^:]*: ", "");
            java.util.Random rng = new java.util.Random(1);
            for (int b : batches) {
                int vocab = (int) m.config().textConfig().vocabSize();
                List<GradientSource.Batch> mb = List.of(stage.batch(examples(rng, b, seq, vocab, m.config().imageTokenId())));
                // with --vary, every other update takes a micro-batch of another length
                List<GradientSource.Batch> other = vary == 0 ? mb : List.of(stage.batch(examples(rng, b, seq - vary, vocab, m.config().imageTokenId())));
                for (int i = 0; i < warmup; i++) stage.step(i % 2 == 0 ? mb : other, 1e-5);
                if (profile && firstGraph(source) != null) profile(stageName, b, stage, firstGraph(source), mb);
                if (profile && source instanceof LayerwiseGradients g) profile(stageName, b, stage, g, mb);
                long t0 = System.nanoTime();
                for (int i = 0; i < steps; i++) stage.step(i % 2 == 0 ? mb : other, 1e-5);
                double s = (System.nanoTime() - t0) / 1e9 / steps;
                double tokens = (mb.get(0).tokens() + other.get(0).tokens()) / 2.0;
                double supervised = (mb.get(0).supervisedTokens() + other.get(0).supervisedTokens()) / 2.0;
                System.out.printf(Locale.ROOT, "%-8s %-15s %-42s %6d %10.1f %10.1f %12.1f%n", stageName, describe(kind, source), trainable, b,
                        s * 1e3, tokens / s, supervised / s);
                System.out.printf(Locale.ROOT, "RESULT %s %s %d %.1f %.1f%n", stageName, kind.name().toLowerCase(Locale.ROOT), b, s * 1e3,
                        tokens / s);
                mb.forEach(GradientSource.Batch::release);
                if (other != mb) other.forEach(GradientSource.Batch::release);
            }
        }
    }

    /** The whole graph a source runs, or its first replica's; null for the layer-by-layer source. */
    static WholeGraphGradients firstGraph(GradientSource source) {
        if (source instanceof ReplicatedGradients r) source = r.replicas().get(0);
        return source instanceof WholeGraphGradients g ? g : null;
    }

    static String describe(GradientSource.Kind kind, GradientSource source) {
        return kind.description() + (source instanceof ReplicatedGradients r ? " ×" + r.replicas().size() : "");
    }

    static List<TrainingExample> examples(java.util.Random rng, int b, int seq, int vocab, int imageToken) {
        List<TrainingExample> out = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            long[] ids = new long[seq];
            long[] labels = new long[seq];
            for (int t = 0; t < seq; t++) {
                long id;
                do id = 10 + rng.nextInt(vocab - 10); while (id == imageToken);
                ids[t] = id;
                labels[t] = t >= seq - seq / 4 ? id : -100;
            }
            out.add(new TrainingExample("random" + i, MultimodalInput.text(ids), labels));
        }
        return out;
    }

    /** A Qwen2.5-VL folder with a random text decoder of the requested size and the test fixture's vision tower. */
    static Path randomQwenModel(Map<String, String> a) throws Exception {
        int d = Integer.parseInt(a.get("d"));
        int layers = Integer.parseInt(a.get("layers"));
        int heads = Integer.parseInt(a.get("heads"));
        int kv = Integer.parseInt(a.get("kv-heads"));
        int ff = Integer.parseInt(a.get("ff"));
        int vocab = Integer.parseInt(a.get("vocab"));
        int dh = d / heads;
        Path fixture = Path.of("test-fixtures/src/main/resources/hf/qwen2_5_vl");
        Path dir = Files.createTempDirectory("trainer-bench-model");
        ObjectMapper om = new ObjectMapper();
        ObjectNode cfg = (ObjectNode) om.readTree(fixture.resolve("config.json").toFile());
        cfg.put("hidden_size", d).put("intermediate_size", ff).put("num_hidden_layers", layers).put("max_window_layers", layers)
                .put("num_attention_heads", heads).put("num_key_value_heads", kv).put("vocab_size", vocab).put("torch_dtype", "float32");
        ((ObjectNode) cfg.get("vision_config")).put("out_hidden_size", d);
        int t = dh / 2 / 4;                                        // mrope_section: t, h, w over d_h/2 pairs as Qwen's 16/24/24
        ArrayNode section = ((ObjectNode) cfg.get("rope_scaling")).putArray("mrope_section");
        section.add(t).add((dh / 2 - t) / 2).add(dh / 2 - t - (dh / 2 - t) / 2);
        om.writeValue(dir.resolve("config.json").toFile(), cfg);

        Nd4j.getRandom().setSeed(0);
        Map<String, INDArray> w = new LinkedHashMap<>();
        w.put("model.embed_tokens.weight", rand(0.02, vocab, d));
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            w.put(p + "input_layernorm.weight", Nd4j.ones(DataType.FLOAT, d));
            w.put(p + "post_attention_layernorm.weight", Nd4j.ones(DataType.FLOAT, d));
            w.put(p + "self_attn.q_proj.weight", rand(0.02, heads * dh, d));
            w.put(p + "self_attn.q_proj.bias", rand(0.02, heads * dh));
            w.put(p + "self_attn.k_proj.weight", rand(0.02, kv * dh, d));
            w.put(p + "self_attn.k_proj.bias", rand(0.02, kv * dh));
            w.put(p + "self_attn.v_proj.weight", rand(0.02, kv * dh, d));
            w.put(p + "self_attn.v_proj.bias", rand(0.02, kv * dh));
            w.put(p + "self_attn.o_proj.weight", rand(0.02, d, heads * dh));
            w.put(p + "mlp.gate_proj.weight", rand(0.02, ff, d));
            w.put(p + "mlp.up_proj.weight", rand(0.02, ff, d));
            w.put(p + "mlp.down_proj.weight", rand(0.02, d, ff));
        }
        w.put("model.norm.weight", Nd4j.ones(DataType.FLOAT, d));
        w.put("lm_head.weight", rand(0.02, vocab, d));
        try (SafeTensorsFile f = SafeTensorsFile.open(fixture.resolve("model.safetensors"))) {
            for (String n : f.names()) {
                if (!n.startsWith("visual.")) continue;
                INDArray x = f.readFloat32(n);
                if (n.startsWith("visual.merger.mlp.2.")) x = n.endsWith("weight") ? rand(0.02, d, x.size(1)) : rand(0.02, d);
                w.put(n, x);
            }
        }
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), w, Map.of("format", "pt"), DType.F32);
        long params = w.values().stream().mapToLong(INDArray::length).sum();
        System.out.printf(Locale.ROOT, "random Qwen2.5-VL-shaped model: d %d, %d layers, %d heads (d_h %d), %d KV heads, ff %d, vocab %d: %.1fM parameters%n",
                d, layers, heads, dh, kv, ff, vocab, params / 1e6);
        return dir;
    }

    static void deleteTree(Path dir) {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (java.io.IOException ignored) {
            // a temp folder left behind is harmless
        }
    }

    static INDArray rand(double std, long... shape) {
        return Nd4j.randn(DataType.FLOAT, shape).muli(std);
    }
}
