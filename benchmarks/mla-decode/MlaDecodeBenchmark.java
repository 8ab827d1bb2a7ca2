import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.PartialRope;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.core.tensor.Parallel;
import org.mha2mla.importers.weights.ArraySource;
import org.mha2mla.layers.decode.DecodeStep;
import org.mha2mla.layers.decode.StaticCache;
import org.mha2mla.layers.decode.StepProfile;
import org.mha2mla.layers.decode.StepRope;
import org.mha2mla.layers.mla.DecoderAttentions;
import org.mha2mla.layers.mla.MlaAttention;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.OneDnnHelpers;
import org.mha2mla.layers.text.RopeTables;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Decode speed of one Qwen2.5-VL-7B-shaped decoder layer (d 3584, 28 heads, 4 KV heads, d_h 128, ff 18944, q/k/v
 * biases; random float32 weights, N(0, 0.02²) as the PyTorch anchor draws them) as the project decodes: the eager
 * {@link DecodeStep} of one layer (RMSNorms, attention, o_proj, residuals, SwiGLU MLP) over a {@link StaticCache}
 * holding T random tokens per sequence, one new token per sequence. The original GQA step against the absorbed MLA
 * step (d_kv 64 per KV head → a shared latent of 256, d_r 32, per-modality factors; the cache's first half visual,
 * as an image early in a prompt). GQA and MLA steps alternate and the medians are reported, so both see the same
 * load on a shared CPU; with {@code --anchor FILE} (the output of {@code anchor_decode_torch.py}) the anchor's
 * steps/s of the same batch and context stand beside them with the ratio project / anchor.
 *
 * <p>Beside each row, the bytes-moved bound of MLA's speed-up: (weights read + cache read per step) of GQA over that
 * of MLA, and how much of it the project reaches. Then where one step's time goes, phase by phase.
 *
 *   benchmarks/mla-decode/run.sh [--batch 1,16] [--context 1024,4096,16384] [--steps 5] [--warmup 2] [--visual 0.5]
 *   JAVA_OPTS=-Dmha2mla.threads=1 benchmarks/mla-decode/run.sh --clock cpu …   (one thread, timed in its CPU time: steadier
 *                                                                              on a busy machine, the phases still wall-clock)
 */
public final class MlaDecodeBenchmark {

    static final int D = 3584, HEADS = 28, KV_HEADS = 4, HEAD_DIM = 128, FF = 18944, D_KV = 64, D_R = 32;
    static final String PREFIX = "model.";
    static final String KEY = PREFIX + "layers.0";

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new LinkedHashMap<>(Map.of("batch", "1,16", "context", "1024,4096,16384", "steps", "5", "warmup", "2",
                "visual", "0.5", "anchor", "", "clock", "wall", "prefill", "0"));
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        int[] batches = ints(a.get("batch"));
        int[] contexts = ints(a.get("context"));
        int steps = Integer.parseInt(a.get("steps"));
        int warmup = Integer.parseInt(a.get("warmup"));
        double visualShare = Double.parseDouble(a.get("visual"));
        Map<String, double[]> anchor = a.get("anchor").isEmpty() ? Map.of() : anchor(Path.of(a.get("anchor")));
        boolean cpuClock = a.get("clock").equals("cpu");
        if (cpuClock && Parallel.threads() != 1) throw new IllegalArgumentException("--clock cpu needs -Dmha2mla.threads=1 (it times the calling thread)");

        TextConfig config = new TextConfig("qwen2_5_vl_text", 16, D, FF, 1, HEADS, KV_HEADS, HEAD_DIM, "silu", 1e-6, 1e6, 32768,
                true, false, null, List.of(), null, null);
        RopeSelection selection = PartialRope.select(RopeStrategy.UNIFORM, 1, KV_HEADS, HEAD_DIM, D_R, null);
        Mha2MlaConfig conversion = Mha2MlaConfig.partialRope(RopeStrategy.UNIFORM, selection).withMla(Mha2MlaConfig.Step.ALL, D_KV, SvdMethod.MD);
        Nd4j.getRandom().setSeed(1);
        Layer gqa = new Layer(config, null, cpuClock);
        Layer mla = new Layer(config, conversion, cpuClock);
        System.out.printf(Locale.ROOT, "one decoder layer, d %d, %d heads, %d KV heads, d_h %d, ff %d, float32; MLA d_kv %d (latent %d), d_r %d, "
                        + "per-modality factors, %d%% of the cached tokens visual; median of %d alternating GQA/MLA steps after %d warm-up; "
                        + "%d threads (%d CPUs), %s time%n",
                D, HEADS, KV_HEADS, HEAD_DIM, FF, D_KV, KV_HEADS * D_KV, D_R, Math.round(visualShare * 100), steps, warmup,
                Parallel.threads(), Runtime.getRuntime().availableProcessors(), cpuClock ? "thread CPU" : "wall-clock");
        System.out.println(OneDnnHelpers.productsChoice());
        int prefill = Integer.parseInt(a.get("prefill"));
        if (prefill > 0) {
            prefill(gqa, mla, prefill, steps, warmup);
            return;
        }
        // The Vector API runs about a thousand times slower until C2 has compiled a kernel (after thousands of calls;
        // some kernels run once per layer and step, the attention's once per tile): 60 steps over a 2K cache first,
        // so that every configuration is timed compiled.
        for (Layer l : new Layer[]{gqa, mla}) {
            l.fill(1, 2048, visualShare);
            for (int i = 0; i < 60; i++) l.step(null);
            l.release();
        }
        System.out.printf(Locale.ROOT, "weights read per step: GQA %.1f MB, MLA %.1f MB; cache per token: GQA %d B, MLA %d B%n",
                gqa.weightBytes / 1e6, mla.weightBytes / 1e6, gqa.cacheBytesPerToken, mla.cacheBytesPerToken);
        System.out.printf("%5s %7s | %9s %9s %9s | %9s %9s %9s | %8s %7s %8s%n", "batch", "context", "GQA st/s", "anchor", "ratio",
                "MLA st/s", "anchor", "ratio", "MLA/GQA", "bound", "vs bound");
        List<String> profiles = new ArrayList<>();
        for (int b : batches) {
            for (int t : contexts) {
                gqa.fill(b, t, visualShare);
                mla.fill(b, t, visualShare);
                StepProfile gp = new StepProfile();
                StepProfile mp = new StepProfile();
                double[] gs = new double[steps];
                double[] ms = new double[steps];
                for (int i = 0; i < warmup + steps; i++) {
                    double g = gqa.step(i >= warmup ? gp : null);
                    double m = mla.step(i >= warmup ? mp : null);
                    if (i >= warmup) {
                        gs[i - warmup] = g;
                        ms[i - warmup] = m;
                    }
                }
                gqa.release();
                mla.release();
                double g = median(gs);
                double m = median(ms);
                double bound = (gqa.weightBytes + (double) b * t * gqa.cacheBytesPerToken) / (mla.weightBytes + (double) b * t * mla.cacheBytesPerToken);
                double[] anchorRow = anchor.get(b + "/" + t);
                System.out.printf(Locale.ROOT, "%5d %7d | %9.2f %9s %9s | %9.2f %9s %9s | %7.2fx %6.2fx %8.2f%n", b, t,
                        1 / g, anchorRow == null ? "-" : String.format(Locale.ROOT, "%.2f", anchorRow[0]),
                        anchorRow == null ? "-" : String.format(Locale.ROOT, "%.2fx", 1 / g / anchorRow[0]),
                        1 / m, anchorRow == null ? "-" : String.format(Locale.ROOT, "%.2f", anchorRow[1]),
                        anchorRow == null ? "-" : String.format(Locale.ROOT, "%.2fx", 1 / m / anchorRow[1]),
                        g / m, bound, g / m / bound);
                profiles.add(String.format(Locale.ROOT, "batch %d, context %d, GQA (%.1f ms/step):%n%s"
                        + "batch %d, context %d, MLA (%.1f ms/step):%n%s", b, t, g * 1e3, gp.table(steps), b, t, m * 1e3, mp.table(steps)));
            }
        }
        System.out.println("\nwhere a step's time goes (mean over the measured steps):");
        profiles.forEach(System.out::print);
    }

    /**
     * Prefill of {@code tokens} tokens through the layer as generation and calibration run it
     * ({@link LayerwiseDecoder#layer}: the layer's SameDiff graph, float32 weights): GQA and MLA alternate, medians.
     */
    static void prefill(Layer gqa, Layer mla, int tokens, int reps, int warmup) {
        double[] g = new double[reps];
        double[] m = new double[reps];
        for (int i = 0; i < warmup + reps; i++) {
            double gs = gqa.prefill(tokens);
            double ms = mla.prefill(tokens);
            if (i >= warmup) {
                g[i - warmup] = gs;
                m[i - warmup] = ms;
            }
        }
        System.out.printf(Locale.ROOT, "project prefill %d tok (whole layer): GQA %.1f tok/s, MLA %.1f tok/s (median of %d after %d warm-up)%n",
                tokens, tokens / median(g), tokens / median(m), reps, warmup);
    }

    /** One decoder layer's weights, decode step and cache. */
    static final class Layer {
        final LayerwiseDecoder decoder;
        final DecodeStep step;
        final long weightBytes;
        final long cacheBytesPerToken;
        final boolean decoupled;
        StaticCache cache;
        float[] h;
        StepRope rope;
        float[] modality;
        int batch;
        int length;

        final boolean cpuClock;
        final java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();

        Layer(TextConfig c, Mha2MlaConfig conversion, boolean cpuClock) {
            this.cpuClock = cpuClock;
            Map<String, INDArray> w = new LinkedHashMap<>();
            Map<String, long[]> shapes = new LinkedHashMap<>();
            shapes.put(PREFIX + "embed_tokens.weight", new long[]{c.vocabSize(), D});
            shapes.put(PREFIX + "norm.weight", new long[]{D});
            shapes.put("lm_head.weight", new long[]{c.vocabSize(), D});
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
            long read = 0;
            if (conversion != null) {
                shapes.put(at + ".k_rope_proj.weight", new long[]{KV_HEADS * D_R, D});
                shapes.put(at + ".k_rope_proj.bias", new long[]{KV_HEADS * D_R});
                for (String m : MlaAttention.MODALITIES) {
                    shapes.put(at + ".kv_down_proj" + m + ".weight", new long[]{rank, D});
                    shapes.put(at + ".k_up_proj" + m + ".weight", new long[]{KV_HEADS * (HEAD_DIM - D_R), rank});
                    shapes.put(at + ".v_up_proj" + m + ".weight", new long[]{KV_HEADS * HEAD_DIM, rank});
                }
                shapes.put(at + ".k_nope_bias", new long[]{KV_HEADS * (HEAD_DIM - D_R)});
                shapes.put(at + ".v_bias", new long[]{KV_HEADS * HEAD_DIM});
                read -= 4L * rank * D;   // a token's latent reads one modality's kv_down
            } else {
                for (String p : new String[]{"k_proj", "v_proj"}) {
                    shapes.put(at + "." + p + ".weight", new long[]{KV_HEADS * HEAD_DIM, D});
                    shapes.put(at + "." + p + ".bias", new long[]{KV_HEADS * HEAD_DIM});
                }
            }
            for (Map.Entry<String, long[]> e : shapes.entrySet()) {
                INDArray x = e.getKey().contains("norm") ? Nd4j.ones(DataType.FLOAT, e.getValue())
                        : Nd4j.randn(DataType.FLOAT, e.getValue()).muli(0.02);
                w.put(e.getKey(), x);
                if (e.getKey().startsWith(KEY)) read += x.length() * 4;
            }
            this.weightBytes = read;
            this.decoder = new LayerwiseDecoder(new ArraySource(w, "random layer"), c, PREFIX, "lm_head.weight",
                    DecoderAttentions.factory(c, PREFIX, conversion), LayerwiseDecoder.Residency.KEEP);
            this.step = DecodeStep.of(decoder, conversion);
            this.decoupled = conversion != null && conversion.decoupled();
            long values = 0;
            for (DecoderAttention.CacheTensor t : decoder.cacheTensors(0)) values += t.valuesPerToken();
            this.cacheBytesPerToken = values * 4;
        }

        /** A cache of {@code t} random tokens per sequence (the first {@code visualShare} of them visual), room for one more. */
        void fill(int b, int t, double visualShare) {
            cache = step.newCache(b, t + 1, StaticCache.float32());
            List<INDArray> tensors = new ArrayList<>();
            for (DecoderAttention.CacheTensor c : decoder.cacheTensors(0)) {
                long[] shape = c.shape().clone();
                shape[0] = b;
                shape[c.seqAxis()] = t;
                INDArray x;
                if (c.name().equals("modality")) {
                    x = Nd4j.zeros(DataType.FLOAT, shape);
                    int visual = (int) Math.round(t * visualShare);
                    for (int s = 0; s < b; s++) for (int k = 0; k < visual; k++) x.putScalar(new long[]{s, 0, k, 0}, 1f);
                } else {
                    x = Nd4j.randn(DataType.FLOAT, shape);
                }
                tensors.add(x);
            }
            cache.prefill(0, tensors);
            tensors.clear();
            cache.advance(t);
            batch = b;
            length = t;
            h = Nd4j.randn(DataType.FLOAT, b, D).data().asFloat();
            rope = StepRope.of(RopeTables.forPositions(decoder.config(), new long[]{t}));
            modality = new float[b];
        }

        /** Seconds of one prefill of {@code n} random text tokens through the layer. */
        double prefill(int n) {
            INDArray x = Nd4j.randn(DataType.FLOAT, 1, n, D);
            DecoderInput in = new DecoderInput(x, RopeTables.forRange(decoder.config(), 0, n), AttentionMask.causal(n, 0));
            long t0 = System.nanoTime();
            decoder.layer(0, x, in, List.of());
            return (System.nanoTime() - t0) / 1e9;
        }

        /** Seconds of one decode step of the layer; the cache is cut back to T tokens after it. */
        double step(StepProfile profile) {
            float[] x = h.clone();
            step.profile(profile);
            long t0 = cpuClock ? threads.getCurrentThreadCpuTime() : System.nanoTime();
            step.layer(0, x, batch, rope, modality, cache, null);
            double s = ((cpuClock ? threads.getCurrentThreadCpuTime() : System.nanoTime()) - t0) / 1e9;
            cache.advance(1);
            cache.truncate(length);
            return s;
        }

        void release() {
            cache = null;
            System.gc();
        }
    }

    /** The anchor's decode steps/s by "batch/context": {GQA, MLA}. */
    static Map<String, double[]> anchor(Path file) throws java.io.IOException {
        Map<String, double[]> out = new LinkedHashMap<>();
        Pattern line = Pattern.compile("B=(\\d+) ctx\\s+(\\d+):.*GQA decode\\s+([\\d.]+) step/s\\s+MLA\\(d_kv=\\d+\\)\\s+([\\d.]+) step/s");
        for (String l : Files.readAllLines(file)) {
            Matcher m = line.matcher(l);
            if (m.find()) out.put(m.group(1) + "/" + m.group(2), new double[]{Double.parseDouble(m.group(3)), Double.parseDouble(m.group(4))});
        }
        return out;
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
