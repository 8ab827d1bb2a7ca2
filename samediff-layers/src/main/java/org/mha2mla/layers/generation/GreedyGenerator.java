package org.mha2mla.layers.generation;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongFunction;
import java.util.function.Predicate;

import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.RopeTables;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Greedy decoding with a cache, as transformers' generate(do_sample=False): one full pass over the prompt
 * (prefill) that returns the last position's logits and every layer's cache, then one decode-step pass per
 * new token over the cache. The prefix is never run again.
 *
 * <p>The cache follows the generator's {@link CachePolicy} (quantized storage, H2O/TOVA pruning), applied after
 * the prefill and after every step. A step's RoPE position is the token's true position in the sequence
 * ({@link KvCache#position()}), its mask covers the tokens still held ({@link KvCache#length()}).
 */
public final class GreedyGenerator {

    private final TextDecoder decoder;
    private final LongFunction<RopeTables> stepRope;
    private final CachePolicy policy;

    /**
     * A generator with the plain cache.
     *
     * @param stepRope RoPE tables [1, 1, 1, d_h] for the token at sequence position p (1-D RoPE: position p;
     *                 M-RoPE: p + rope_delta on all three axes)
     */
    public GreedyGenerator(TextDecoder decoder, LongFunction<RopeTables> stepRope) {
        this(decoder, stepRope, CachePolicy.FULL);
    }

    public GreedyGenerator(TextDecoder decoder, LongFunction<RopeTables> stepRope, CachePolicy policy) {
        this.decoder = decoder;
        this.stepRope = stepRope;
        this.policy = policy;
    }

    /** The same decoder and positions with another cache policy. */
    public GreedyGenerator withPolicy(CachePolicy policy) {
        return new GreedyGenerator(decoder, stepRope, policy);
    }

    public CachePolicy policy() {
        return policy;
    }

    /** The prefill pass: the prompt's cache (stored and pruned by the policy) and the last position's logits [1, vocab]. */
    public Prefill prefill(DecoderInput prompt) {
        Map<String, INDArray> out = decoder.run(prompt, outputNames(TextDecoder.LAST_LOGITS, "", policy.needsAttention()));
        KvCache cache = KvCache.fromOutputs(decoder, out, "", prompt.length(), policy);
        return new Prefill(out.get(TextDecoder.LAST_LOGITS).reshape(1, -1).dup(), cache);
    }

    public record Prefill(INDArray lastLogits, KvCache cache) {
    }

    /** One decode step for {@code token}: adds it to {@code cache} (then applies the cache's policy) and returns the logits [1, vocab]. */
    public INDArray step(long token, KvCache cache) {
        return stepEmbedded(decoder.embed(new long[]{token}), stepRope.apply(cache.position()), cache);
    }

    /** One decode step of an already embedded token [1, 1, d] at the given rotary tables. */
    INDArray stepEmbedded(INDArray embedding, RopeTables rope, KvCache cache) {
        DecoderInput in = new DecoderInput(embedding, rope, AttentionMask.causal(1, cache.length()));
        Map<String, INDArray> out = decoder.runStep(in, cache.tensors(),
                outputNames(TextDecoder.STEP + TextDecoder.LOGITS, TextDecoder.STEP, cache.needsAttention()));
        cache.update(out, 1);
        return out.get(TextDecoder.STEP + TextDecoder.LOGITS).reshape(1, -1).dup();
    }

    /**
     * Up to {@code maxNewTokens} greedy tokens after the prompt (the new ones only); stops after the first
     * token in {@code eos} when {@code stopAtEos}, keeping that token, as transformers does.
     */
    public long[] generate(DecoderInput prompt, int maxNewTokens, Set<Integer> eos, boolean stopAtEos) {
        return run(prompt, maxNewTokens, eos, stopAtEos, ids -> false).tokens();
    }

    /**
     * {@link #generate}, also stopping once {@code stopWhen} holds for the tokens so far (e.g. a stop string
     * appeared in their text), and returning what the cache held at the end.
     */
    public Generation run(DecoderInput prompt, int maxNewTokens, Set<Integer> eos, boolean stopAtEos, Predicate<long[]> stopWhen) {
        if (maxNewTokens <= 0) return new Generation(new long[0], CacheStats.EMPTY);
        long[] out = new long[maxNewTokens];
        int split = policy.textAfterImageThroughCache() ? afterLastVisual(prompt) : prompt.length();
        Prefill pre = prefill(split == prompt.length() ? prompt : prompt.prefix(split));
        INDArray logits = pre.lastLogits();
        for (int j = split; j < prompt.length(); j++) logits = stepEmbedded(prompt.embeds(j, j + 1), prompt.rope().positions(j, j + 1), pre.cache());
        long token = argmax(logits);
        int n = 0;
        out[n++] = token;
        while (n < maxNewTokens && !(stopAtEos && eos.contains((int) token)) && !stopWhen.test(Arrays.copyOf(out, n))) {
            token = argmax(step(token, pre.cache()));
            out[n++] = token;
        }
        return new Generation(Arrays.copyOf(out, n), pre.cache().stats());
    }

    /** The position after the last visual token of a single prompt (its length when there is none, or it is text only). */
    static int afterLastVisual(DecoderInput prompt) {
        INDArray m = prompt.modality();
        for (int j = prompt.length() - 1; j >= 0; j--) {
            if (m.getFloat(0, j) == DecoderInput.VISUAL) return j + 1;
        }
        return prompt.length();
    }

    /** First index of the maximum, as torch.argmax. */
    public static long argmax(INDArray logits) {
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

    /** The logits output plus every layer's cache tensors (and attention probabilities) of the pass whose outputs start with {@code prefix}. */
    private String[] outputNames(String logits, String prefix, boolean attention) {
        List<String> names = new ArrayList<>();
        names.add(logits);
        for (int i = 0; i < decoder.numLayers(); i++) {
            for (var c : decoder.cacheTensors(i)) names.add(prefix + TextDecoder.present(i, c.name()));
            if (attention) names.add(prefix + TextDecoder.attentionProbs(i));
        }
        return names.toArray(new String[0]);
    }
}
