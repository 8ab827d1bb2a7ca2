package org.mha2mla.layers.generation;

import java.util.Arrays;
import java.util.Set;
import java.util.function.LongFunction;
import java.util.function.LongPredicate;
import java.util.function.Predicate;

import org.mha2mla.layers.decode.DecodeStep;
import org.mha2mla.layers.decode.StaticCache;
import org.mha2mla.layers.decode.StepRope;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.RopeTables;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Greedy decoding with a cache, as transformers' generate(do_sample=False) with a {@code StaticCache}: one pass over
 * the prompt (prefill, {@link LayerwiseDecoder#forward}, whose layers' cache tensors fill the cache) that gives the
 * last position's logits, then one {@link DecodeStep} per new token over the cache. The prefix is never run again.
 *
 * <p>The cache follows the {@link CachePolicy}: stored float32 or quantized ({@link KvQuantization}), pruned
 * ({@link H2oPruning}, {@link TovaPruning}) after the prefill and after every step from that pass's attention. A
 * step's RoPE position is the token's true position in the sequence ({@link StaticCache#position()}); its attention
 * covers the tokens still held ({@link StaticCache#length()}). Every token's modality — prompt or generated — comes
 * from the model's one rule ({@code visualToken}), so a generated {@code <|vision_start|>} is cached through the
 * visual factors of a modality-decoupled MLA model, as the full pass over the same ids would.
 */
public final class Generator {

    private final DecodeStep step;
    private final LongFunction<RopeTables> stepRope;
    private final LongPredicate visualToken;
    private final CachePolicy policy;

    /**
     * @param stepRope    RoPE tables [1, 1, 1, d_h] for the token at sequence position p (1-D RoPE: position p;
     *                    M-RoPE: p + rope_delta on all three axes)
     * @param visualToken whether a generated token id is visual (its modality for MLA's per-modality factors)
     */
    public Generator(DecodeStep step, LongFunction<RopeTables> stepRope, LongPredicate visualToken, CachePolicy policy) {
        this.step = step;
        this.stepRope = stepRope;
        this.visualToken = visualToken;
        this.policy = policy;
    }

    /** The same decoder, positions and modalities with another cache policy. */
    public Generator withPolicy(CachePolicy policy) {
        return new Generator(step, stepRope, visualToken, policy);
    }

    public CachePolicy policy() {
        return policy;
    }

    private StaticCache.Storage storage() {
        KvQuantization q = policy.quantization();
        return q == null ? StaticCache.float32() : StaticCache.quantized(q.bits(), q::groupSizeFor, q.residualLength());
    }

    /**
     * Prefills {@code prompt} (batch 1) into a cache of {@code capacity} tokens per layer, stored and pruned by the
     * policy; the session then decodes token by token.
     */
    public Session start(DecoderInput prompt, int capacity) {
        return new Session(prompt, capacity);
    }

    /** A generation in progress: its cache and the logits of the last token fed. */
    public final class Session {
        private final StaticCache cache;
        private final CachePruning.Evictor evictor;
        private final DecodeStep.ProbsSink prune;
        private float[] logits;

        private Session(DecoderInput prompt, int capacity) {
            if (prompt.inputsEmbeds().size(0) != 1) {
                throw new IllegalArgumentException("generation decodes one sequence, got a batch of " + prompt.inputsEmbeds().size(0));
            }
            int length = prompt.length();
            LayerwiseDecoder decoder = step.decoder();
            this.cache = step.newCache(1, capacity, storage());
            this.evictor = policy.pruning() == null ? null : policy.pruning().start(length, decoder.numLayers());
            this.prune = evictor == null ? null : (layer, probs) -> {
                int[] keep = evictor.keep(layer, probs);
                if (keep != null) cache.keep(layer, keep);
            };
            INDArray normed = step.prefill(prompt, cache, prune);
            float[] last = normed.get(NDArrayIndex.point(0), NDArrayIndex.point(length - 1), NDArrayIndex.all()).dup().toFloatVector();
            this.logits = decoder.logitsOf(last, 1);
        }

        /** The next-token logits [vocab] after the last token fed (the prompt's last, or the last step's). */
        public float[] logits() {
            return logits;
        }

        public StaticCache cache() {
            return cache;
        }

        /** Feeds {@code token} at the next position (its modality by the model's rule); returns the logits [vocab]. */
        public float[] step(long token) {
            RopeTables rope = stepRope.apply(cache.position());
            return stepEmbedded(step.embed(new long[]{token}), rope, visualToken.test(token));
        }

        /** Feeds an already embedded token [d] with the given RoPE tables [1, 1, 1, d_h] and modality. */
        public float[] stepEmbedded(float[] embedding, RopeTables rope, boolean visual) {
            float[] modality = {visual ? DecoderInput.VISUAL : DecoderInput.TEXT};
            logits = step.logits(embedding, 1, StepRope.of(rope), modality, cache, prune);
            return logits;
        }

        /** What the cache holds now. */
        public CacheStats stats() {
            return new CacheStats(cache.position(), cache.length(), cache.bytesHeld());
        }
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
     * appeared in their text), and returning what the cache held at the end. With
     * {@link CachePolicy#textAfterImageThroughCache()} the prompt is prefilled up to its last visual token and the
     * text after it is fed token by token through the stored cache.
     */
    public Generation run(DecoderInput prompt, int maxNewTokens, Set<Integer> eos, boolean stopAtEos, Predicate<long[]> stopWhen) {
        if (maxNewTokens <= 0) return new Generation(new long[0], CacheStats.EMPTY, 0, 0);
        long[] out = new long[maxNewTokens];
        int split = policy.textAfterImageThroughCache() ? afterLastVisual(prompt) : prompt.length();
        long t0 = System.nanoTime();
        Session s = start(split == prompt.length() ? prompt : prompt.prefix(split), prompt.length() + maxNewTokens);
        long t1 = System.nanoTime();
        float[] logits = s.logits();
        for (int j = split; j < prompt.length(); j++) {
            float[] embedding = prompt.embeds(j, j + 1).reshape(-1).toFloatVector();
            logits = s.stepEmbedded(embedding, prompt.rope().positions(j, j + 1), prompt.modality().getFloat(0, j) == DecoderInput.VISUAL);
        }
        long token = argmax(logits);
        int n = 0;
        out[n++] = token;
        while (n < maxNewTokens && !(stopAtEos && eos.contains((int) token)) && !stopWhen.test(Arrays.copyOf(out, n))) {
            token = argmax(s.step(token));
            out[n++] = token;
        }
        return new Generation(Arrays.copyOf(out, n), s.stats(), (t1 - t0) / 1e9, (System.nanoTime() - t1) / 1e9);
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
    public static long argmax(float[] logits) {
        int best = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] > max) {
                max = logits[i];
                best = i;
            }
        }
        return best;
    }
}
