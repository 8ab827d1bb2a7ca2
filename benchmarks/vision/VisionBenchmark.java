import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import org.mha2mla.core.config.ClipVisionConfig;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.Qwen25VlVisionConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.weights.ArraySource;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.llava.LlavaProjector;
import org.mha2mla.layers.qwen25vl.LayerwiseQwen25VlVisionTower;
import org.mha2mla.layers.qwen25vl.Qwen25VlVisionTower;
import org.mha2mla.layers.text.BlockRunner;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.OneDnnHelpers;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.vision.ClipVisionTower;
import org.mha2mla.layers.vision.LayerwiseClipVisionTower;
import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Seconds per image of the three paper vision towers at their real shapes, as the models run them: one block graph at
 * a time over the stored weights ({@code layerwise}: LayerwiseClipVisionTower + the LLaVA projector,
 * LayerwiseQwen25VlVisionTower; the runner's float32 buffers and cached activations are released after every image,
 * as the models do), the same keeping them between images ({@code layerwise-keep}), or the whole tower as one graph
 * over float32 variables ({@code whole}: the reference graph the models ran before).
 *
 * <pre>
 *   qwen  Qwen2.5-VL-7B vision: 448×448 image → grid [1, 32, 32], 1024 patches, 32 blocks (window 112 px → 16 windows
 *         of 64 patches; full attention in blocks 7, 15, 23, 31), width 1280, merger to 3584
 *   clip  LLaVA-1.5-7B: CLIP ViT-L/14-336, 1 image of 577 tokens, 23 layers (vision_feature_layer −2), projector 1024 → 4096
 *   next  llama3-llava-next-8b: the same CLIP and a projector to 4096, 5 tiles (2×2 anyres grid + base image)
 * </pre>
 *
 * Weights are random at the real shapes (float32 in memory), or those of a model folder ({@code --model DIR}: its
 * config and its mapped bf16/f16 weights, e.g. one made by {@code mha2mla init}). Prints per image the cold call
 * (graph building included) and the median of the warm ones; per block kind the median seconds and the GFLOPS reached
 * (multiply-adds counted ×2 over the block's matmuls: linear layers and attention); beside them, the GFLOPS of one
 * plain sgemm of the block's largest shape at that moment (the BLAS bound on this machine now) and the load average.
 *
 *   benchmarks/vision/run.sh [--tower qwen,clip,next] [--path layerwise,layerwise-keep,whole] [--images 3] [--model DIR]
 *                            [--depth N (Qwen: only the first N blocks)] [--profile]
 */
public final class VisionBenchmark {

    static final String QWEN_CONFIG = """
            {"model_type": "qwen2_5_vl", "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
             "num_attention_heads": 28, "num_key_value_heads": 4, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
             "vocab_size": 152064, "image_token_id": 151655, "vision_start_token_id": 151652, "vision_end_token_id": 151653,
             "vision_config": {"depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
               "in_chans": 3, "out_hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2, "window_size": 112,
               "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2, "temporal_patch_size": 2}}""";
    static final String LLAVA_CONFIG = """
            {"model_type": "llava", "image_token_index": 32000, "projector_hidden_act": "gelu",
             "text_config": {"model_type": "llama", "vocab_size": 32064, "rms_norm_eps": 1e-05},
             "vision_config": {"hidden_size": 1024, "image_size": 336, "intermediate_size": 4096, "num_attention_heads": 16,
               "num_hidden_layers": 24, "patch_size": 14, "projection_dim": 768},
             "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": 32064}""";
    static final String LLAVA_NEXT_CONFIG = """
            {"model_type": "llava_next", "image_token_index": 128256, "projector_hidden_act": "gelu",
             "image_grid_pinpoints": [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]],
             "text_config": {"model_type": "llama", "intermediate_size": 14336, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
               "rope_theta": 500000.0, "vocab_size": 128320},
             "vision_config": {"hidden_size": 1024, "image_size": 336, "intermediate_size": 4096, "num_attention_heads": 16,
               "num_hidden_layers": 24, "patch_size": 14, "projection_dim": 768},
             "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": 128320}""";

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new LinkedHashMap<>(Map.of("tower", "qwen,clip,next", "path", "layerwise", "images", "3", "depth", "0"));
        boolean profile = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--profile")) profile = true;
            else a.put(args[i].replaceFirst("^--", ""), args[++i]);
        }
        int images = Integer.parseInt(a.get("images"));
        System.out.printf(Locale.ROOT, "%d CPU threads, OMP_NUM_THREADS %s; load average %s%n", Runtime.getRuntime().availableProcessors(),
                System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"), load());
        for (String tower : a.get("tower").split(",")) {
            VlmConfig config;
            TensorSource weights;
            if (a.containsKey("model")) {
                Path dir = Path.of(a.get("model"));
                config = HfConfigParser.read(dir);
                weights = KeyLayout.canonical(Checkpoint.open(dir), config.modelType());
            } else {
                config = HfConfigParser.parse(switch (tower) {
                    case "qwen" -> QWEN_CONFIG;
                    case "clip" -> LLAVA_CONFIG;
                    case "next" -> LLAVA_NEXT_CONFIG;
                    default -> throw new IllegalArgumentException("--tower takes qwen, clip, next; got " + tower);
                }, tower);
                weights = randomWeights(config);
            }
            List<Tower> paths = new ArrayList<>();
            for (String path : a.get("path").split(",")) {
                paths.add(config instanceof Qwen25VlConfig q ? new QwenTower(q, weights, path, Integer.parseInt(a.get("depth")))
                        : new ClipTower((LlavaConfig) config, weights, path, tower.equals("next") ? 5 : 1));
            }
            // Paths take turns image by image, so that each sees the same load on the shared machine.
            System.out.printf(Locale.ROOT, "%n%s%n", paths.get(0).describe());
            for (int i = 0; i < images; i++) {
                for (Tower t : paths) t.image(i);
            }
            for (Tower t : paths) t.report(profile);
            weights.close();
        }
    }

    /** One tower on one path: runs an image, timing its parts. */
    abstract static class Tower {
        final String path;
        final Map<String, List<Double>> seconds = new TreeMap<>();
        final Map<String, Double> flops = new TreeMap<>();

        Tower(String path) {
            this.path = path;
        }

        abstract String describe();

        abstract void image();

        /** The largest matmul of a block, [m, k] · [k, n], for the BLAS bound. */
        abstract long[] largestMatmul();

        abstract void listen(BaseListener listener);

        /** Times {@code part} (kind of block) with {@code flop} floating-point operations. */
        <T> T timed(String part, double flop, java.util.function.Supplier<T> run) {
            long t0 = System.nanoTime();
            T out = run.get();
            seconds.computeIfAbsent(part, k -> new ArrayList<>()).add((System.nanoTime() - t0) / 1e9);
            flops.put(part, flop);
            return out;
        }

        final List<Double> totals = new ArrayList<>();

        /** Runs image i, keeping the times of its parts. */
        void image(int i) {
            seconds.clear();
            long t0 = System.nanoTime();
            image();
            totals.add((System.nanoTime() - t0) / 1e9);
            System.out.printf(Locale.ROOT, "  %-9s image %d: %.2f s%s  (load %s; resident %s)%n", path, i + 1, totals.get(i),
                    i == 0 ? " (cold: graphs built)" : "", load(), memory("VmRSS"));
        }

        void report(boolean profile) {
            System.out.printf(Locale.ROOT, "%s path:%n", path);
            if (totals.size() > 1) {
                System.out.printf(Locale.ROOT, "  seconds per image (median of the %d warm): %.2f%n", totals.size() - 1,
                        median(totals.subList(1, totals.size()).stream().mapToDouble(Double::doubleValue).toArray()));
            }
            double bound = sgemmGflops(largestMatmul());
            System.out.printf(Locale.ROOT, "  %-28s %6s %10s %8s %8s%n", "part (last image)", "count", "s (median)", "GFLOP", "GFLOPS");
            double sumFlop = 0;
            double sumSeconds = 0;
            for (Map.Entry<String, List<Double>> e : seconds.entrySet()) {
                double s = median(e.getValue().stream().mapToDouble(Double::doubleValue).toArray());
                double f = flops.get(e.getKey());
                for (double x : e.getValue()) sumSeconds += x;
                sumFlop += f * e.getValue().size();
                System.out.printf(Locale.ROOT, "  %-28s %6d %10.3f %8.2f %8.1f%n", e.getKey(), e.getValue().size(), s, f / 1e9, f / 1e9 / s);
            }
            System.out.printf(Locale.ROOT, "  %-28s %6s %10.3f %8.1f %8.1f%n", "all parts", "", sumSeconds, sumFlop / 1e9, sumFlop / 1e9 / sumSeconds);
            System.out.printf(Locale.ROOT, "  one sgemm %s now: %.1f GFLOPS (load %s); peak resident so far %s%n", Arrays.toString(largestMatmul()),
                    bound, load(), memory("VmHWM"));
            if (profile) profile();
        }

        /** Per-op times of one image, summed by op type and by output shape, largest first. */
        void profile() {
            Map<String, long[]> times = new LinkedHashMap<>();
            long[] start = new long[1];
            listen(new BaseListener() {
                @Override
                public boolean isActive(Operation op) {
                    return true;
                }

                @Override
                public void preOpExecution(SameDiff sd, At at, SameDiffOp op, OpContext ctx) {
                    start[0] = System.nanoTime();
                }

                @Override
                public void opExecution(SameDiff sd, At at, MultiDataSet batch, SameDiffOp op, OpContext ctx, INDArray[] outputs) {
                    String key = op.getOp().opName() + " " + (outputs != null && outputs.length > 0 && outputs[0] != null
                            ? Arrays.toString(outputs[0].shape()) : "");
                    long[] t = times.computeIfAbsent(key, k -> new long[2]);
                    t[0] += System.nanoTime() - start[0];
                    t[1]++;
                }
            });
            long t0 = System.nanoTime();
            image();
            long total = System.nanoTime() - t0;
            listen(null);
            long ops = times.values().stream().mapToLong(t -> t[0]).sum();
            System.out.printf(Locale.ROOT, "  profile: %.2f s per image, %.2f s inside ops (%d op kinds)%n", total / 1e9, ops / 1e9, times.size());
            times.entrySet().stream().sorted((x, y) -> Long.compare(y.getValue()[0], x.getValue()[0])).limit(Integer.getInteger("profile.top", 30))
                    .forEach(e -> System.out.printf(Locale.ROOT, "    %8.1f ms %5d×  %s%n", e.getValue()[0] / 1e6, e.getValue()[1], e.getKey()));
        }
    }

    /** Qwen2.5-VL's tower on a 448×448 image. */
    static final class QwenTower extends Tower {
        final Qwen25VlVisionConfig v;
        final int[][] grid = {{1, 32, 32}};
        final INDArray pixels;
        final BlockRunner runner;
        final LayerwiseQwen25VlVisionTower layerwise;
        final SameDiff wholeGraph;
        final Qwen25VlVisionTower whole;

        QwenTower(Qwen25VlConfig config, TensorSource weights, String path, int depth) {
            super(path);
            Qwen25VlVisionConfig full = config.visionConfig();
            this.v = depth > 0 ? new Qwen25VlVisionConfig(depth, full.hiddenSize(), full.hiddenAct(),
                    full.intermediateSize(), full.numHeads(), full.inChannels(), full.patchSize(), full.spatialMergeSize(),
                    full.temporalPatchSize(), full.tokensPerSecond(), full.windowSize(), full.outHiddenSize(),
                    full.fullattBlockIndexes().stream().filter(i -> i < depth).toList()) : full;
            Nd4j.getRandom().setSeed(1);
            this.pixels = Nd4j.randn(DataType.FLOAT, 1024, v.patchVolume());
            if (path.equals("whole")) {
                runner = null;
                layerwise = null;
                wholeGraph = Params.load(TensorSource.subset(weights, k -> k.startsWith("visual.") && blockIndex(k) < v.depth()));
                whole = new Qwen25VlVisionTower(wholeGraph, v, "visual.", "vision");
            } else {
                runner = new BlockRunner(weights, LayerwiseDecoder.Residency.RELEASE);
                layerwise = new LayerwiseQwen25VlVisionTower(runner, v, "visual.");
                wholeGraph = null;
                whole = null;
            }
        }

        static int blockIndex(String key) {
            if (!key.startsWith("visual.blocks.")) return -1;
            return Integer.parseInt(key.substring("visual.blocks.".length(), key.indexOf('.', "visual.blocks.".length())));
        }

        @Override
        String describe() {
            return String.format(Locale.ROOT, "Qwen2.5-VL vision, 448×448 → 1024 patches, %d blocks (full attention in %s), width %d, "
                    + "%d heads, intermediate %d, merger to %d", v.depth(), v.fullattBlockIndexes(), v.hiddenSize(), v.numHeads(),
                    v.intermediateSize(), v.outHiddenSize());
        }

        @Override
        long[] largestMatmul() {
            return new long[] {1024, v.hiddenSize(), v.intermediateSize()};
        }

        @Override
        void listen(BaseListener l) {
            if (runner != null) runner.setListeners(l == null ? new BaseListener[0] : new BaseListener[] {l});
            else OneDnnHelpers.attachTo(wholeGraph, l == null ? new BaseListener[0] : new BaseListener[] {l});
        }

        /** Multiply-adds ×2 of one block on n rows attending in groups of {@code group} rows (n / group groups). */
        double blockFlop(long n, long group) {
            long d = v.hiddenSize();
            double linear = 2.0 * n * d * (3 * d + d + 3L * v.intermediateSize());
            double attention = 2.0 * 2.0 * n * group * d;
            return linear + attention;
        }

        @Override
        void image() {
            long n = 1024;
            long unit = (long) v.spatialMergeSize() * v.spatialMergeSize();
            double embedFlop = 2.0 * n * v.patchVolume() * v.hiddenSize();
            long merged = v.hiddenSize() * unit;
            double mergerFlop = 2.0 * (n / unit) * merged * (merged + v.outHiddenSize());
            // Useful work: attention within the windows (the whole graph also multiplies the masked n×n rest).
            long window = LayerwiseQwen25VlVisionTower.Layout.of(grid, v).windows().length();
            if (whole != null) {
                double flop = embedFlop + mergerFlop;
                for (int i = 0; i < v.depth(); i++) flop += blockFlop(n, v.fullattBlockIndexes().contains(i) ? n : window);
                timed("whole tower", flop, () -> whole.forward(pixels, grid));
                return;
            }
            try {
                LayerwiseQwen25VlVisionTower.Layout layout = timed("layout (Java)", 0, () -> LayerwiseQwen25VlVisionTower.Layout.of(grid, v));
                INDArray x = timed("patch_embed", embedFlop, () -> layerwise.patchEmbed(pixels, layout));
                for (int i = 0; i < v.depth(); i++) {
                    boolean full = v.fullattBlockIndexes().contains(i);
                    int block = i;
                    INDArray in = x;
                    x = timed(full ? "block, full attention" : "block, window attention", blockFlop(n, full ? n : window),
                            () -> layerwise.block(block, in, layout));
                }
                INDArray out = x;
                timed("merger", mergerFlop, () -> layerwise.merge(out, layout));
            } finally {
                if (!path.equals("layerwise-keep")) runner.close();
            }
        }
    }

    /** CLIP ViT-L/14-336 and the LLaVA projector on N images or tiles. */
    static final class ClipTower extends Tower {
        final LlavaConfig config;
        final ClipVisionConfig v;
        final int images;
        final INDArray pixels;
        final BlockRunner runner;
        final LayerwiseClipVisionTower layerwise;
        final BlockRunner.Block projector;
        final SameDiff whole;

        ClipTower(LlavaConfig config, TensorSource weights, String path, int images) {
            super(path);
            this.config = config;
            this.v = config.visionConfig();
            this.images = images;
            Nd4j.getRandom().setSeed(1);
            this.pixels = Nd4j.randn(DataType.FLOAT, images, v.numChannels(), v.imageSize(), v.imageSize());
            if (path.equals("whole")) {
                runner = null;
                layerwise = null;
                projector = null;
                whole = Params.load(TensorSource.subset(weights, k -> k.startsWith("vision_tower.") || k.startsWith(LlavaProjector.PREFIX)));
                new ClipVisionTower(whole, v, "vision_tower.vision_model.", config.visionFeatureLayer(), config.visionFeatureSelectStrategy());
                new LlavaProjector(whole, config).forward("image_features", whole.getVariable(ClipVisionTower.FEATURES));
            } else {
                runner = new BlockRunner(weights, LayerwiseDecoder.Residency.RELEASE);
                layerwise = new LayerwiseClipVisionTower(runner, v, "vision_tower.vision_model.", config.visionFeatureLayer(),
                        config.visionFeatureSelectStrategy());
                projector = LlavaProjector.block(runner, config);
                whole = null;
            }
        }

        @Override
        String describe() {
            int layers = ClipVisionTower.selectedIndex(v, config.visionFeatureLayer());
            return String.format(Locale.ROOT, "%s: CLIP %d×%d/%d, %d image%s of %d tokens, %d of %d layers run, width %d, %d heads, ff %d, "
                            + "projector %d → %d", config.modelType(), v.imageSize(), v.imageSize(), v.patchSize(), images, images == 1 ? "" : "s",
                    v.numPositions(), layers, v.numHiddenLayers(), v.hiddenSize(), v.numAttentionHeads(), v.intermediateSize(), v.hiddenSize(),
                    config.textConfig().hiddenSize());
        }

        @Override
        long[] largestMatmul() {
            return new long[] {(long) images * v.numPositions(), v.hiddenSize(), v.intermediateSize()};
        }

        @Override
        void listen(BaseListener l) {
            BaseListener[] ls = l == null ? new BaseListener[0] : new BaseListener[] {l};
            if (runner != null) runner.setListeners(ls);
            else OneDnnHelpers.attachTo(whole, ls);
        }

        @Override
        void image() {
            long t = v.numPositions();
            long rows = images * t;
            long d = v.hiddenSize();
            long text = config.textConfig().hiddenSize();
            int layers = ClipVisionTower.selectedIndex(v, config.visionFeatureLayer());
            double embedFlop = 2.0 * images * (t - 1) * d * v.numChannels() * v.patchSize() * v.patchSize();
            double layerFlop = 2.0 * rows * d * (4 * d + 2L * v.intermediateSize()) + 2.0 * 2.0 * images * t * t * d;
            double projectorFlop = 2.0 * images * (t - 1) * text * (d + text);
            if (whole != null) {
                timed("whole tower + projector", embedFlop + layers * layerFlop + projectorFlop, () -> whole.output(
                        Map.of(ClipVisionTower.PIXEL_VALUES, pixels), "image_features").get("image_features"));
                return;
            }
            try {
                INDArray h = timed("embeddings", embedFlop, () -> layerwise.embeddings(pixels));
                for (int i = 0; i < layers; i++) {
                    int layer = i;
                    INDArray in = h;
                    h = timed("encoder layer", layerFlop, () -> layerwise.layer(layer, in));
                }
                INDArray features = h.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(1, t),
                        org.nd4j.linalg.indexing.NDArrayIndex.all()).dup('c');
                timed("projector", projectorFlop, () -> runner.run(projector, Map.of(LlavaProjector.IN, features), LlavaProjector.OUT));
            } finally {
                if (!path.equals("layerwise-keep")) runner.close();
            }
        }
    }

    /** Random float32 weights at the shapes of the model's vision tower and projector (norm weights 1, biases 0). */
    static TensorSource randomWeights(VlmConfig config) {
        Map<String, INDArray> w = new LinkedHashMap<>();
        Nd4j.getRandom().setSeed(42);
        if (config instanceof Qwen25VlConfig q) {
            Qwen25VlVisionConfig v = q.visionConfig();
            long d = v.hiddenSize();
            long ff = v.intermediateSize();
            w.put("visual.patch_embed.proj.weight", random(d, v.inChannels(), v.temporalPatchSize(), v.patchSize(), v.patchSize()));
            for (int i = 0; i < v.depth(); i++) {
                String k = "visual.blocks." + i + ".";
                w.put(k + "norm1.weight", Nd4j.ones(DataType.FLOAT, d));
                w.put(k + "attn.qkv.weight", random(3 * d, d));
                w.put(k + "attn.qkv.bias", Nd4j.zeros(DataType.FLOAT, 3 * d));
                w.put(k + "attn.proj.weight", random(d, d));
                w.put(k + "attn.proj.bias", Nd4j.zeros(DataType.FLOAT, d));
                w.put(k + "norm2.weight", Nd4j.ones(DataType.FLOAT, d));
                for (String m : new String[] {"gate_proj", "up_proj"}) {
                    w.put(k + "mlp." + m + ".weight", random(ff, d));
                    w.put(k + "mlp." + m + ".bias", Nd4j.zeros(DataType.FLOAT, ff));
                }
                w.put(k + "mlp.down_proj.weight", random(d, ff));
                w.put(k + "mlp.down_proj.bias", Nd4j.zeros(DataType.FLOAT, d));
            }
            long merged = d * v.spatialMergeSize() * v.spatialMergeSize();
            w.put("visual.merger.ln_q.weight", Nd4j.ones(DataType.FLOAT, d));
            w.put("visual.merger.mlp.0.weight", random(merged, merged));
            w.put("visual.merger.mlp.0.bias", Nd4j.zeros(DataType.FLOAT, merged));
            w.put("visual.merger.mlp.2.weight", random(v.outHiddenSize(), merged));
            w.put("visual.merger.mlp.2.bias", Nd4j.zeros(DataType.FLOAT, v.outHiddenSize()));
        } else {
            LlavaConfig l = (LlavaConfig) config;
            ClipVisionConfig v = l.visionConfig();
            long d = v.hiddenSize();
            String p = "vision_tower.vision_model.";
            w.put(p + "embeddings.patch_embedding.weight", random(d, v.numChannels(), v.patchSize(), v.patchSize()));
            w.put(p + "embeddings.class_embedding", random(d));
            w.put(p + "embeddings.position_embedding.weight", random(v.numPositions(), d));
            w.put(p + "pre_layrnorm.weight", Nd4j.ones(DataType.FLOAT, d));
            w.put(p + "pre_layrnorm.bias", Nd4j.zeros(DataType.FLOAT, d));
            int layers = ClipVisionTower.selectedIndex(v, l.visionFeatureLayer());
            for (int i = 0; i < layers; i++) {
                String k = p + "encoder.layers." + i + ".";
                for (String norm : new String[] {"layer_norm1", "layer_norm2"}) {
                    w.put(k + norm + ".weight", Nd4j.ones(DataType.FLOAT, d));
                    w.put(k + norm + ".bias", Nd4j.zeros(DataType.FLOAT, d));
                }
                for (String proj : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                    w.put(k + "self_attn." + proj + ".weight", random(d, d));
                    w.put(k + "self_attn." + proj + ".bias", Nd4j.zeros(DataType.FLOAT, d));
                }
                w.put(k + "mlp.fc1.weight", random(v.intermediateSize(), d));
                w.put(k + "mlp.fc1.bias", Nd4j.zeros(DataType.FLOAT, v.intermediateSize()));
                w.put(k + "mlp.fc2.weight", random(d, v.intermediateSize()));
                w.put(k + "mlp.fc2.bias", Nd4j.zeros(DataType.FLOAT, d));
            }
            long text = l.textConfig().hiddenSize();
            w.put(LlavaProjector.PREFIX + "linear_1.weight", random(text, d));
            w.put(LlavaProjector.PREFIX + "linear_1.bias", Nd4j.zeros(DataType.FLOAT, text));
            w.put(LlavaProjector.PREFIX + "linear_2.weight", random(text, text));
            w.put(LlavaProjector.PREFIX + "linear_2.bias", Nd4j.zeros(DataType.FLOAT, text));
        }
        return new ArraySource(w, "random " + config.modelType() + " vision weights");
    }

    static INDArray random(long... shape) {
        return Nd4j.randn(DataType.FLOAT, shape).muli(0.02);
    }

    /** GFLOPS of one float32 matmul [m, k] · [k, n] (median of 3 after a warm-up). */
    static double sgemmGflops(long[] mkn) {
        INDArray x = Nd4j.rand(DataType.FLOAT, mkn[0], mkn[1]);
        INDArray y = Nd4j.rand(DataType.FLOAT, mkn[1], mkn[2]);
        x.mmul(y);
        double[] s = new double[3];
        for (int i = 0; i < s.length; i++) {
            long t0 = System.nanoTime();
            x.mmul(y);
            s[i] = (System.nanoTime() - t0) / 1e9;
        }
        return 2.0 * mkn[0] * mkn[1] * mkn[2] / median(s) / 1e9;
    }

    static String load() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (Exception e) {
            return "unknown";
        }
    }

    /** A line of /proc/self/status (VmRSS: resident now, VmHWM: peak resident), in GB. */
    static String memory(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(field + ":")) {
                    return String.format(Locale.ROOT, "%.2f GB", Long.parseLong(line.replaceAll("[^0-9]", "")) / 1e6);
                }
            }
        } catch (Exception e) {
            // not Linux
        }
        return "unknown";
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
