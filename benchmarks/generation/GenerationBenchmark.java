import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.generation.Budget;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generator;
import org.mha2mla.layers.generation.H2oPruning;
import org.mha2mla.layers.generation.KvQuantization;
import org.mha2mla.layers.generation.TovaPruning;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.LayerwiseDecoder;

/**
 * Decode-step cost and fidelity of each cache policy on a model folder (default: the tiny LLaVA test fixture): a random
 * text prompt, then the full-cache greedy tokens teacher-forced through every policy, so each step's logits can be
 * compared with the full cache's. Prints the median ms per step, cache bytes per sequence token at the end, max |Δ logits|, and
 * how many of the full cache's greedy tokens the policy would have chosen.
 *
 *   benchmarks/generation/run.sh [--model DIR] [--prompt 256] [--steps 32] [--budget 0.5] [--seed 1]
 */
public final class GenerationBenchmark {

    public static void main(String[] args) {
        Path model = Path.of("test-fixtures/src/main/resources/hf/llava");
        int promptLength = 256;
        int steps = 32;
        String budget = "0.5";
        long seed = 1;
        for (int i = 0; i < args.length; i += 2) {
            switch (args[i]) {
                case "--model" -> model = Path.of(args[i + 1]);
                case "--prompt" -> promptLength = Integer.parseInt(args[i + 1]);
                case "--steps" -> steps = Integer.parseInt(args[i + 1]);
                case "--budget" -> budget = args[i + 1];
                case "--seed" -> seed = Long.parseLong(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        VisionLanguageModel m = VlmLoader.load(model);
        LayerwiseDecoder decoder = m.decoder();
        Random r = new Random(seed);
        long[] ids = new long[promptLength];
        ids[0] = 1;
        for (int i = 1; i < ids.length; i++) ids[i] = 300 + r.nextInt(decoder.config().vocabSize() - 300);
        MultimodalInput input = MultimodalInput.text(ids);
        DecoderInput prompt = m.decoderInput(input);

        Budget b = Budget.parse(budget);
        List<CachePolicy> policies = List.of(CachePolicy.FULL,
                CachePolicy.quantized(KvQuantization.of(8)), CachePolicy.quantized(KvQuantization.of(4)),
                CachePolicy.quantized(KvQuantization.of(2)), CachePolicy.quantized(new KvQuantization(4, 64, 0)),
                CachePolicy.quantized(new KvQuantization(2, 64, 0)),
                CachePolicy.pruned(new H2oPruning(b)), CachePolicy.pruned(new TovaPruning(b)),
                new CachePolicy(new KvQuantization(4, 64, 0), new H2oPruning(b)));

        // The full cache's greedy tokens and logits: the reference every policy is teacher-forced along.
        Generator full = m.generator(input, CachePolicy.FULL);
        List<float[]> refLogits = new ArrayList<>();
        long[] tokens = new long[steps + 1];
        Generator.Session pre = full.start(prompt, promptLength + steps + 1);
        refLogits.add(pre.logits());
        tokens[0] = Generator.argmax(pre.logits());
        for (int s = 0; s < steps; s++) {
            float[] l = pre.step(tokens[s]);
            refLogits.add(l);
            tokens[s + 1] = Generator.argmax(l);
        }

        // The Vector API kernels run far slower until C2 has compiled them (thousands of calls): decode a while first.
        for (int warm = 0; warm < 4; warm++) {
            Generator.Session w = full.start(prompt, promptLength + steps + 1);
            for (int s = 0; s < steps; s++) w.step(tokens[s]);
        }

        System.out.printf(Locale.ROOT, "model %s: %d layers, d %d, %d heads / %d KV heads; prompt %d random tokens, %d steps; float32 cache %d B/token%n",
                model.getFileName(), decoder.numLayers(), decoder.config().hiddenSize(), decoder.config().numAttentionHeads(),
                decoder.config().numKeyValueHeads(), promptLength, steps, m.kvCacheBytesPerToken());
        System.out.printf(Locale.ROOT, "%-34s %10s %12s %12s %14s %10s%n", "policy", "prefill ms", "median ms/step", "B/token", "max|Δ logits|", "same top-1");
        for (CachePolicy p : policies) {
            Generator g = full.withPolicy(p);
            for (int warm = 0; warm < 2; warm++) g.start(prompt, promptLength + 1).step(tokens[0]);
            long t0 = System.nanoTime();
            Generator.Session gp = g.start(prompt, promptLength + steps + 1);
            double prefillMs = (System.nanoTime() - t0) / 1e6;
            double worst = maxAbs(gp.logits(), refLogits.get(0));
            int same = Generator.argmax(gp.logits()) == tokens[0] ? 1 : 0;
            double[] stepMs = new double[steps];
            for (int s = 0; s < steps; s++) {
                long t1 = System.nanoTime();
                float[] l = gp.step(tokens[s]);
                stepMs[s] = (System.nanoTime() - t1) / 1e6;
                worst = Math.max(worst, maxAbs(l, refLogits.get(s + 1)));
                same += Generator.argmax(l) == tokens[s + 1] ? 1 : 0;
            }
            java.util.Arrays.sort(stepMs);
            double msPerStep = stepMs[steps / 2]; // the median: robust to other jobs on a shared machine
            System.out.printf(Locale.ROOT, "%-34s %10.1f %12.2f %12.1f %14.3e %7d/%d%n", p.label(), prefillMs, msPerStep,
                    gp.stats().bytesPerToken(), worst, same, steps + 1);
        }
    }

    static double maxAbs(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
