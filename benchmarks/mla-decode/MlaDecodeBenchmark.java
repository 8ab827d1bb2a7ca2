import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.PartialRope;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.layers.mla.MlaAttention;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.DecoderLayer;
import org.mha2mla.layers.text.GqaAttention;
import org.mha2mla.layers.text.RopeTables;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Decode speed of one Qwen2.5-VL-7B-shaped decoder layer (d 3584, 28 heads, 4 KV heads, d_h 128, ff 18944, q/k/v
 * biases; random float32 weights): the original GQA step against the absorbed MLA step (d_kv 64 → latent 256,
 * d_r 32, modality-decoupled factors), each as the project runs it — the layer's decode-step graph (samediff-layers
 * GqaAttention / MlaAttention inside DecoderLayer) over a cache of T tokens, one new token per sequence, the grown
 * cache returned as GreedyGenerator uses it.
 *
 * Beside each figure, the bytes-moved bound of the speed-up: (weights + cache read per step) of GQA over that of MLA.
 *
 *   benchmarks/mla-decode/run.sh [--batch 1,16] [--context 1024,4096,16384] [--steps 5] [--warmup 2]
 */
public final class MlaDecodeBenchmark {

    static final int D = 3584, HEADS = 28, KV_HEADS = 4, HEAD_DIM = 128, FF = 18944, D_KV = 64, D_R = 32;
    static final String KEY = "layers.0";

    public static void main(String[] args) {
        Map<String, String> a = new LinkedHashMap<>(Map.of("batch", "1,16", "context", "1024,4096,16384", "steps", "5", "warmup", "2",
                "visual", "0.5"));
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        int[] batches = ints(a.get("batch"));
        int[] contexts = ints(a.get("context"));
        int steps = Integer.parseInt(a.get("steps"));
        int warmup = Integer.parseInt(a.get("warmup"));
        double visualShare = Double.parseDouble(a.get("visual"));

        TextConfig config = new TextConfig("qwen2_5_vl_text", 16, D, FF, 1, HEADS, KV_HEADS, HEAD_DIM, "silu", 1e-6, 1e6, 32768,
                true, false, null, List.of(), null, new int[]{16, 24, 24});
        RopeSelection selection = PartialRope.select(RopeStrategy.UNIFORM, 1, KV_HEADS, HEAD_DIM, D_R, null);
        Nd4j.getRandom().setSeed(1);
        Layer gqa = Layer.build(config, false, selection);
        Layer mla = Layer.build(config, true, selection);
        System.out.printf(Locale.ROOT, "one decoder layer, d %d, %d heads, %d KV heads, d_h %d, ff %d; MLA d_kv %d (latent %d), d_r %d, "
                        + "decoupled; %d%% of the cached tokens visual; median of %d alternating GQA/MLA steps after %d warm-up; %d CPU threads, OMP_NUM_THREADS %s%n",
                D, HEADS, KV_HEADS, HEAD_DIM, FF, D_KV, KV_HEADS * D_KV, D_R, Math.round(visualShare * 100), steps, warmup,
                Runtime.getRuntime().availableProcessors(), System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"));
        System.out.printf(Locale.ROOT, "weights per step: GQA %.1f MB, MLA %.1f MB; cache per token: GQA %d floats, MLA %d floats%n",
                gqa.weightBytes / 1e6, mla.weightBytes / 1e6, gqa.cacheFloatsPerToken, mla.cacheFloatsPerToken);
        System.out.printf("%5s %7s %12s %12s %12s %12s %9s %9s %11s%n", "batch", "context", "GQA ms/step", "GQA steps/s", "MLA ms/step",
                "MLA steps/s", "speed-up", "bound", "vs bound");
        for (int b : batches) {
            for (int t : contexts) {
                // Alternating GQA and MLA steps, medians: the two see the same machine load (the CPU is shared).
                Map<String, INDArray> gFeed = gqa.feed(b, t, visualShare);
                Map<String, INDArray> mFeed = mla.feed(b, t, visualShare);
                for (int i = 0; i < warmup; i++) {
                    gqa.step(gFeed);
                    mla.step(mFeed);
                }
                if (System.getProperty("profile") != null) {
                    gqa.profile(gFeed, gqa.outputs.toArray(new String[0]));
                    mla.profile(mFeed, mla.outputs.toArray(new String[0]));
                }
                double[] gs = new double[steps];
                double[] ms = new double[steps];
                for (int i = 0; i < steps; i++) {
                    gs[i] = gqa.step(gFeed);
                    ms[i] = mla.step(mFeed);
                }
                gFeed.clear();
                mFeed.clear();
                System.gc();
                if (System.getProperty("verbose") != null) {
                    System.out.println("  GQA steps " + Arrays.toString(gs) + "\n  MLA steps " + Arrays.toString(ms));
                }
                double g = median(gs);
                double m = median(ms);
                double bound = (gqa.weightBytes + (double) b * t * gqa.cacheFloatsPerToken * 4)
                        / (mla.weightBytes + (double) b * t * mla.cacheFloatsPerToken * 4);
                double speedup = g / m;
                System.out.printf(Locale.ROOT, "%5d %7d %12.1f %12.2f %12.1f %12.2f %8.2fx %8.2fx %10.2f%n", b, t, g * 1e3, 1 / g,
                        m * 1e3, 1 / m, speedup, bound, speedup / bound);
            }
        }
    }

    /** One layer's decode-step graph with random weights. */
    static final class Layer {
        final SameDiff sd = SameDiff.create();
        final DecoderAttention attention;
        final List<String> outputs = new ArrayList<>();
        final boolean mla;
        long weightBytes;
        long cacheFloatsPerToken;

        private Layer(boolean mla, DecoderAttention attention) {
            this.mla = mla;
            this.attention = attention;
        }

        static Layer build(TextConfig c, boolean mla, RopeSelection selection) {
            SameDiff sd = SameDiff.create();
            Map<String, long[]> shapes = new LinkedHashMap<>();
            shapes.put(KEY + ".input_layernorm.weight", new long[]{D});
            shapes.put(KEY + ".post_attention_layernorm.weight", new long[]{D});
            shapes.put(KEY + ".mlp.gate_proj.weight", new long[]{FF, D});
            shapes.put(KEY + ".mlp.up_proj.weight", new long[]{FF, D});
            shapes.put(KEY + ".mlp.down_proj.weight", new long[]{D, FF});
            String at = KEY + ".self_attn";
            shapes.put(at + ".q_proj.weight", new long[]{HEADS * HEAD_DIM, D});
            shapes.put(at + ".q_proj.bias", new long[]{HEADS * HEAD_DIM});
            shapes.put(at + ".o_proj.weight", new long[]{D, HEADS * HEAD_DIM});
            int rank = KV_HEADS * D_KV;
            if (mla) {
                shapes.put(at + ".k_rope_proj.weight", new long[]{KV_HEADS * D_R, D});
                shapes.put(at + ".k_rope_proj.bias", new long[]{KV_HEADS * D_R});
                for (String m : MlaAttention.MODALITIES) {
                    shapes.put(at + ".kv_down_proj" + m + ".weight", new long[]{rank, D});
                    shapes.put(at + ".k_up_proj" + m + ".weight", new long[]{KV_HEADS * (HEAD_DIM - D_R), rank});
                    shapes.put(at + ".v_up_proj" + m + ".weight", new long[]{KV_HEADS * HEAD_DIM, rank});
                }
                shapes.put(at + ".k_nope_bias", new long[]{KV_HEADS * (HEAD_DIM - D_R)});
                shapes.put(at + ".v_bias", new long[]{KV_HEADS * HEAD_DIM});
            } else {
                for (String p : new String[]{"k_proj", "v_proj"}) {
                    shapes.put(at + "." + p + ".weight", new long[]{KV_HEADS * HEAD_DIM, D});
                    shapes.put(at + "." + p + ".bias", new long[]{KV_HEADS * HEAD_DIM});
                }
            }
            long bytes = 0;
            for (Map.Entry<String, long[]> e : shapes.entrySet()) {
                long[] s = e.getValue();
                double scale = s.length == 1 ? (e.getKey().contains("norm") ? 1.0 : 0.02) : 1.0 / Math.sqrt(s[1]);
                INDArray w = Nd4j.randn(DataType.FLOAT, s).muli(scale);
                if (e.getKey().contains("norm")) w.assign(1.0);
                sd.var(e.getKey(), w);
                bytes += w.length() * 4;
            }
            DecoderAttention attention = mla ? new MlaAttention(sd, c, at, selection, 0, D_KV, true) : new GqaAttention(sd, c, at);
            Layer layer = new Layer(mla, attention);
            layer.weightBytes = bytes;
            for (DecoderAttention.CacheTensor t : attention.cacheTensors()) layer.cacheFloatsPerToken += t.valuesPerToken();
            layer.graph(sd, c);
            return layer;
        }

        SameDiff graphSd;

        private void graph(SameDiff sd, TextConfig c) {
            this.graphSd = sd;
            DecoderLayer decoder = new DecoderLayer(sd, c, KEY, attention);
            SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, -1, D);
            SDVariable cos = sd.placeHolder("cos", DataType.FLOAT, -1, -1, -1, HEAD_DIM);
            SDVariable sin = sd.placeHolder("sin", DataType.FLOAT, -1, -1, -1, HEAD_DIM);
            SDVariable mask = sd.placeHolder("mask", DataType.FLOAT, -1, -1, -1, -1);
            SDVariable modality = sd.placeHolder("modality", DataType.FLOAT, -1, -1);
            List<SDVariable> past = new ArrayList<>();
            for (DecoderAttention.CacheTensor t : attention.cacheTensors()) past.add(sd.placeHolder("past." + t.name(), DataType.FLOAT, t.shape()));
            DecoderAttention.Result r = decoder.forward("step", x, cos, sin, mask, modality, past);
            outputs.add(r.output().name());
            for (SDVariable p : r.present()) outputs.add(p.name());
        }

        /** Placeholder values of one decode step of batch b over a cache of t tokens (random cache, position t). */
        Map<String, INDArray> feed(int b, int t, double visualShare) {
            Map<String, INDArray> feed = new HashMap<>();
            feed.put("x", Nd4j.randn(DataType.FLOAT, b, 1, D));
            RopeTables rope = RopeTables.forPositions(new TextConfig("llama", 16, D, FF, 1, HEADS, KV_HEADS, HEAD_DIM, "silu", 1e-6, 1e6,
                    32768, true, false, null, List.of(), null, null), new long[]{t});
            feed.put("cos", rope.cos());
            feed.put("sin", rope.sin());
            feed.put("mask", Nd4j.zeros(DataType.FLOAT, b, 1, 1, t + 1));
            feed.put("modality", Nd4j.zeros(DataType.FLOAT, b, 1));
            for (DecoderAttention.CacheTensor c : attention.cacheTensors()) {
                long[] shape = c.shape().clone();
                shape[0] = b;
                shape[c.seqAxis()] = t;
                feed.put("past." + c.name(), c.name().equals("modality") ? modality(b, t, visualShare) : Nd4j.randn(DataType.FLOAT, shape));
            }
            return feed;
        }

        /**
         * Seconds of one decode step: the layer output and the grown cache, as GreedyGenerator asks for them. The
         * outputs are freed right after (a generator drops the previous cache every step): left to the garbage
         * collector, gigabytes of native buffers pile up and JavaCPP stalls allocations until a GC frees them.
         */
        double step(Map<String, INDArray> feed) {
            long t0 = System.nanoTime();
            Map<String, INDArray> out = graphSd.output(feed, outputs.toArray(new String[0]));
            double s = (System.nanoTime() - t0) / 1e9;
            for (INDArray a : out.values()) if (a.closeable()) a.close();
            return s;
        }

        /** Prints the ops of one step by time (-Dprofile=1). */
        void profile(Map<String, INDArray> feed, String[] names) {
            Map<String, long[]> times = new LinkedHashMap<>();
            long[] start = new long[1];
            graphSd.setListeners(new org.nd4j.autodiff.listeners.BaseListener() {
                @Override
                public boolean isActive(org.nd4j.autodiff.listeners.Operation op) {
                    return true;
                }

                @Override
                public void preOpExecution(SameDiff sd, org.nd4j.autodiff.listeners.At at, org.nd4j.autodiff.samediff.internal.SameDiffOp op,
                                           org.nd4j.linalg.api.ops.OpContext ctx) {
                    start[0] = System.nanoTime();
                }

                @Override
                public void opExecution(SameDiff sd, org.nd4j.autodiff.listeners.At at, org.nd4j.linalg.dataset.api.MultiDataSet batch,
                                        org.nd4j.autodiff.samediff.internal.SameDiffOp op, org.nd4j.linalg.api.ops.OpContext ctx, INDArray[] outputs) {
                    String key = op.getOp().opName() + " " + op.getName() + " " + (outputs != null && outputs.length > 0 && outputs[0] != null
                            ? Arrays.toString(outputs[0].shape()) : "");
                    times.computeIfAbsent(key, k -> new long[1])[0] += System.nanoTime() - start[0];
                }
            });
            long t0 = System.nanoTime();
            graphSd.output(feed, names);
            long total = System.nanoTime() - t0;
            graphSd.setListeners();
            long t1 = System.nanoTime();
            graphSd.output(feed, names[0]);
            System.out.printf("  without returning the cache: %.1f ms%n", (System.nanoTime() - t1) / 1e6);
            long sum = 0;
            for (long[] v : times.values()) sum += v[0];
            System.out.printf("  sum of op times %.1f ms%n", sum / 1e6);
            System.out.printf("profile (%s): %.1f ms total, %d ops%n", mla ? "MLA" : "GQA", total / 1e6, times.size());
            times.entrySet().stream().sorted((x, y) -> Long.compare(y.getValue()[0], x.getValue()[0])).limit(Integer.getInteger("profile.top", 25))
                    .forEach(e -> System.out.printf("  %8.2f ms  %s%n", e.getValue()[0] / 1e6, e.getKey()));
        }

        /** [b, 1, t, 1]: the first visualShare of every sequence's cached tokens are visual (an image at the start of the prompt). */
        static INDArray modality(int b, int t, double visualShare) {
            INDArray m = Nd4j.zeros(DataType.FLOAT, b, 1, t, 1);
            int visual = (int) Math.round(t * visualShare);
            if (visual > 0) m.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all(),
                    org.nd4j.linalg.indexing.NDArrayIndex.interval(0, visual), org.nd4j.linalg.indexing.NDArrayIndex.all()).assign(1);
            return m;
        }
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static int[] ints(String csv) {
        return Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray();
    }
}
