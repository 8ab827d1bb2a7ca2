package org.mha2mla.layers.generation;

import java.util.Map;
import java.util.Set;
import java.util.function.LongFunction;

import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.RopeTables;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Greedy decoding with a cache, as transformers' generate(do_sample=False): one full pass over the prompt
 * (prefill) that returns the last position's logits and every layer's cache, then one decode-step pass per
 * new token over the cache. The prefix is never run again.
 */
public final class GreedyGenerator {

    private final TextDecoder decoder;
    private final LongFunction<RopeTables> stepRope;

    /**
     * @param stepRope RoPE tables [1, 1, 1, d_h] for the token at cache position p (1-D RoPE: position p;
     *                 M-RoPE: p + rope_delta on all three axes)
     */
    public GreedyGenerator(TextDecoder decoder, LongFunction<RopeTables> stepRope) {
        this.decoder = decoder;
        this.stepRope = stepRope;
    }

    /** The prefill pass: the prompt's cache and the last position's logits [1, vocab]. */
    public Prefill prefill(DecoderInput prompt) {
        Map<String, INDArray> out = decoder.run(prompt, outputNames(TextDecoder.LAST_LOGITS, ""));
        KvCache cache = KvCache.fromOutputs(decoder, out, "", prompt.length());
        return new Prefill(out.get(TextDecoder.LAST_LOGITS).reshape(1, -1).dup(), cache);
    }

    public record Prefill(INDArray lastLogits, KvCache cache) {
    }

    /** One decode step for {@code token}: grows {@code cache} by one and returns the logits [1, vocab]. */
    public INDArray step(long token, KvCache cache) {
        int p = cache.length();
        DecoderInput in = new DecoderInput(decoder.embed(new long[]{token}), stepRope.apply(p), AttentionMask.causal(1, p));
        Map<String, INDArray> out = decoder.runStep(in, cache.tensors(), outputNames(TextDecoder.STEP + TextDecoder.LOGITS, TextDecoder.STEP));
        cache.update(out, 1);
        return out.get(TextDecoder.STEP + TextDecoder.LOGITS).reshape(1, -1).dup();
    }

    /**
     * Up to {@code maxNewTokens} greedy tokens after the prompt (the new tokens only); stops after the first
     * token in {@code eos} when {@code stopAtEos}, keeping that token, as transformers does.
     */
    public long[] generate(DecoderInput prompt, int maxNewTokens, Set<Integer> eos, boolean stopAtEos) {
        long[] out = new long[maxNewTokens];
        if (maxNewTokens == 0) return out;
        Prefill pre = prefill(prompt);
        long token = argmax(pre.lastLogits());
        int n = 0;
        out[n++] = token;
        while (n < maxNewTokens && !(stopAtEos && eos.contains((int) token))) {
            token = argmax(step(token, pre.cache()));
            out[n++] = token;
        }
        return java.util.Arrays.copyOf(out, n);
    }

    /** First index of the maximum, as torch.argmax. */
    static long argmax(INDArray logits) {
        long best = 0;
        double max = Double.NEGATIVE_INFINITY;
        for (long i = 0; i < logits.length(); i++) {
            double v = logits.getDouble(i);
            if (v > max) {
                max = v;
                best = i;
            }
        }
        return best;
    }

    /** The logits output plus every layer's cache tensors of the pass whose outputs start with {@code prefix}. */
    private String[] outputNames(String logits, String prefix) {
        java.util.List<String> names = new java.util.ArrayList<>();
        names.add(logits);
        for (int i = 0; i < decoder.numLayers(); i++) {
            for (var c : decoder.cacheTensors(i)) names.add(prefix + TextDecoder.present(i, c.name()));
        }
        return names.toArray(new String[0]);
    }
}
