package org.mha2mla.layers.generation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.llava.LlavaModel;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.layers.llava.LlavaNextModel;
import org.mha2mla.core.kv.KvQuantizer;
import org.mha2mla.layers.decode.DecodeStep;
import org.mha2mla.layers.decode.StaticCache;
import org.mha2mla.layers.decode.StepRope;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.GqaAttention;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.RopeTables;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Cached decoding (layer-by-layer prefill, eager decode steps over the static cache) against a full recompute of the
 * whole sequence by the whole-model graph at every step, and the cache policies through it.
 */
class GeneratorTest {

    @Test
    void cachedStepLogitsEqualFullRecomputeOnLlava() {
        LlavaModel model = (LlavaModel) VlmLoader.load(Fixtures.dir("llava"));
        try (SafeTensorsFile golden = Fixtures.golden("llava")) {
            MultimodalInput c0 = new MultimodalInput(golden.readLongs("c0.input_ids"), golden.readFloat32("c0.pixel_values"), null, null);
            double err = maxStepError(model.graph(), generator(model), model.decoderInput(c0), 6);
            System.out.printf("llava cached vs full-recompute logits max abs err over 6 steps %.3e%n", err);
            assertTrue(err <= 1e-4, "cached decode differs from full recompute by " + err);
        }
    }

    @Test
    void cachedStepLogitsEqualFullRecomputeOnLlavaNextGqa() {
        // 8 query heads on 2 KV heads: the cache holds n_kv heads and repeat_kv runs inside each step.
        LlavaNextModel model = (LlavaNextModel) VlmLoader.load(Fixtures.dir("llava_next"));
        try (SafeTensorsFile golden = Fixtures.golden("llava_next")) {
            long[] hw = golden.readLongs("c0.image_sizes");
            MultimodalInput c0 = new MultimodalInput(golden.readLongs("c0.input_ids"), golden.readFloat32("c0.pixel_values"),
                    new int[][]{{(int) hw[0], (int) hw[1]}}, null);
            double err = maxStepError(model.graph(), generator(model), model.decoderInput(c0), 6);
            System.out.printf("llava_next cached vs full-recompute logits max abs err over 6 steps %.3e%n", err);
            assertTrue(err <= 1e-4, "cached decode differs from full recompute by " + err);
        }
    }

    /** Runs {@code steps} cached steps; returns the max |cached − recomputed| logits over all of them. */
    static double maxStepError(TextDecoder decoder, Generator gen, DecoderInput prompt, int steps) {
        Generator.Session session = gen.start(prompt, prompt.length() + steps);
        INDArray embeds = prompt.inputsEmbeds();
        double worst = Fixtures.maxAbsDiff(row(session.logits()), lastLogitsOfFullPass(decoder, embeds));
        StaticCache cache = session.cache();
        long token = Generator.argmax(session.logits());
        for (int s = 0; s < steps; s++) {
            INDArray cached = row(session.step(token));
            embeds = Nd4j.concat(1, embeds, decoder.embed(new long[]{token}));
            assertEquals(embeds.size(1), cache.length());
            worst = Math.max(worst, Fixtures.maxAbsDiff(cached, lastLogitsOfFullPass(decoder, embeds)));
            token = Generator.argmax(cached.toFloatVector());
        }
        return worst;
    }

    /** Logits [vocab] as a [1, vocab] array. */
    static INDArray row(float[] logits) {
        return Nd4j.create(logits, new long[]{1, logits.length}, 'c');
    }

    /** The whole sequence recomputed without a cache; logits of its last position [1, vocab]. */
    static INDArray lastLogitsOfFullPass(TextDecoder decoder, INDArray embeds) {
        int l = (int) embeds.size(1);
        INDArray logits = decoder.logits(new DecoderInput(embeds, RopeTables.forRange(decoder.config(), 0, l),
                AttentionMask.causal(l, 0)));
        return logits.get(NDArrayIndex.point(0), NDArrayIndex.point(logits.size(1) - 1), NDArrayIndex.all()).reshape(1, -1);
    }

    @Test
    void stopsAfterEosAndKeepsIt() {
        LlavaModel model = (LlavaModel) VlmLoader.load(Fixtures.dir("llava"));
        try (SafeTensorsFile golden = Fixtures.golden("llava")) {
            MultimodalInput c1 = MultimodalInput.text(golden.readLongs("c1.input_ids"));
            long[] expected = golden.readLongs("c1.generated_ids"); // 598, 449, 520, 449, …
            // Declare the third greedy token an EOS: generation must end right after emitting it.
            long[] stopped = generator(model).generate(model.decoderInput(c1), 8, Set.of((int) expected[2]), true);
            assertArrayEquals(java.util.Arrays.copyOf(expected, 3), stopped);
            long[] full = generator(model).generate(model.decoderInput(c1), 8, Set.of((int) expected[2]), false);
            assertArrayEquals(expected, full);
        }
    }

    @Test
    void argmaxTakesFirstMaximumLikeTorch() {
        assertEquals(1, Generator.argmax(new float[]{0f, 3f, 1f, 3f}));
    }

    // ---- cache policies on the llava fixture ----

    private static MultimodalInput llavaCase0(SafeTensorsFile golden) {
        return new MultimodalInput(golden.readLongs("c0.input_ids"), golden.readFloat32("c0.pixel_values"), null, null);
    }

    @Test
    void pruningWithABudgetCoveringTheSequenceChangesNothing() {
        LlavaModel model = (LlavaModel) VlmLoader.load(Fixtures.dir("llava"));
        try (SafeTensorsFile golden = Fixtures.golden("llava")) {
            DecoderInput prompt = model.decoderInput(llavaCase0(golden));
            long[] plain = generator(model).generate(prompt, 10, Set.of(), false);
            // 47 prompt + 9 cached new tokens = 56 ≤ 64
            for (CachePruning p : List.of(new H2oPruning(Budget.tokens(64)), new TovaPruning(Budget.tokens(64)),
                    new H2oPruning(Budget.fraction(2.0)))) {
                Generation g = generator(model).withPolicy(CachePolicy.pruned(p)).run(prompt, 10, Set.of(), false, ids -> false);
                assertArrayEquals(plain, g.tokens(), p.label());
                assertEquals(56, g.cache().tokensHeld(), p.label());
                assertEquals(56L * model.kvCacheBytesPerToken(), g.cache().bytesHeld(), p.label());
            }
        }
    }

    @Test
    void h2oPrunedStepsEqualAFullPassWithTheEvictedTokensMaskedPerLayer() {
        // Accumulated attention favours early tokens (more queries see them): on this random model every layer
        // keeps the same heavy hitters, so the per-layer masks are exercised by the TOVA case below.
        checkPrunedAgainstMaskedRecompute(new H2oPruning(Budget.tokens(20)), false);
    }

    @Test
    void tovaPrunedStepsEqualAFullPassWithTheEvictedTokensMaskedPerLayer() {
        checkPrunedAgainstMaskedRecompute(new TovaPruning(Budget.fraction(0.5)), true);
    }

    /**
     * Pruned decoding must equal the uncompressed model attending only to what each layer still holds: a full
     * pass over prompt + generated tokens at their true positions 0..N−1, where in layer l the query of the token
     * fed at step s sees exactly the tokens layer l held before that step (plus itself). Equal logits show that
     * the step positions continue at the true position and that the step mask covers the kept tokens only.
     */
    private static void checkPrunedAgainstMaskedRecompute(CachePruning pruning, boolean layersMustDiffer) {
        LlavaModel model = (LlavaModel) VlmLoader.load(Fixtures.dir("llava"));
        try (SafeTensorsFile golden = Fixtures.golden("llava")) {
            DecoderInput prompt = model.decoderInput(llavaCase0(golden));
            int l = prompt.length();
            int layers = model.graph().numLayers();
            int steps = 6;
            Generator.Session session = generator(model).withPolicy(CachePolicy.pruned(pruning)).start(prompt, l + steps);
            StaticCache cache = session.cache();
            int budget = cache.length();
            assertTrue(budget < l, "the prefill must already prune (" + budget + " of " + l + ")");
            List<int[][]> held = new ArrayList<>();
            List<INDArray> stepLogits = new ArrayList<>();
            long[] fed = new long[steps];
            long token = Generator.argmax(session.logits());
            boolean layersDiffer = false;
            for (int s = 0; s < steps; s++) {
                int[][] h = new int[layers][];
                for (int i = 0; i < layers; i++) {
                    h[i] = cache.positions(i);
                    layersDiffer |= !java.util.Arrays.equals(h[i], h[0]);
                }
                held.add(h);
                fed[s] = token;
                INDArray logits = row(session.step(token));
                stepLogits.add(logits);
                assertEquals(budget, cache.length(), "held tokens stay at the budget");
                assertEquals(l + s + 1, cache.position());
                token = Generator.argmax(logits.toFloatVector());
            }
            for (int i = 0; i < layers; i++) System.out.println(pruning.label() + " layer " + i + " holds " + java.util.Arrays.toString(cache.positions(i)));
            assertTrue(layersDiffer || !layersMustDiffer, "layers should keep different tokens, or the per-layer masks test nothing");

            int n = l + steps;
            float[][] masks = new float[layers][n * n];
            for (int i = 0; i < layers; i++) {
                java.util.Arrays.fill(masks[i], AttentionMask.MASKED);
                for (int q = 0; q < n; q++) {
                    if (q < l) {
                        for (int k = 0; k <= q; k++) masks[i][q * n + k] = 0; // the prefill: causal over the whole prompt
                    } else {
                        for (int k : held.get(q - l)[i]) masks[i][q * n + k] = 0;
                        masks[i][q * n + q] = 0;
                    }
                }
            }
            INDArray embeds = Nd4j.concat(1, prompt.inputsEmbeds(), model.graph().embed(fed));
            INDArray full = maskedLogits(Fixtures.dir("llava"), model.graph(), embeds, masks);
            double worst = 0;
            double changed = 0;
            Generator.Session unpruned = generator(model).start(prompt, l + steps);
            for (int s = 0; s < steps; s++) {
                INDArray ref = full.get(NDArrayIndex.point(0), NDArrayIndex.point(l + s), NDArrayIndex.all()).reshape(1, -1);
                worst = Math.max(worst, Fixtures.maxAbsDiff(stepLogits.get(s), ref));
                changed = Math.max(changed, Fixtures.maxAbsDiff(stepLogits.get(s), row(unpruned.step(fed[s]))));
            }
            System.out.printf("%s (budget %d of %d): pruned vs masked-recompute logits max abs err %.3e over %d steps; vs unpruned %.3e%n",
                    pruning.label(), budget, l, worst, steps, changed);
            assertTrue(worst <= 1e-4, "pruned decode differs from the masked recompute by " + worst);
            assertTrue(changed > 1e-3, "pruning should change the logits, or this test checks nothing: " + changed);
        }
    }

    /** Logits [1, N, vocab] of a second decoder over the fixture's weights whose layer i adds {@code masks[i]} [N, N]. */
    private static INDArray maskedLogits(java.nio.file.Path dir, TextDecoder original, INDArray embeds, float[][] masks) {
        SameDiff sd;
        try (TensorSource w = Checkpoint.open(dir)) {
            sd = Params.load(KeyLayout.canonical(w, "llava"));
        }
        var config = original.config();
        String prefix = "language_model.model.";
        TextDecoder decoder = new TextDecoder(sd, config, prefix, "language_model.lm_head.weight", i -> {
            GqaAttention inner = new GqaAttention(sd, config, prefix + "layers." + i + ".self_attn");
            SDVariable layerMask = sd.placeHolder("layer_mask." + i, DataType.FLOAT, -1, -1, -1, -1);
            return new DecoderAttention() {
                @Override
                public List<CacheTensor> cacheTensors() {
                    return inner.cacheTensors();
                }

                @Override
                public Result build(String scope, Queries queries, SDVariable x, SDVariable cos, SDVariable sin,
                                    SDVariable mask, SDVariable modality) {
                    return inner.build(scope, queries, x, cos, sin, mask.add(layerMask), modality);
                }

                @Override
                public Result attend(String scope, Queries queries, List<SDVariable> present, SDVariable mask) {
                    return inner.attend(scope, queries, present, mask.add(layerMask));
                }
            };
        });
        int n = (int) embeds.size(1);
        RopeTables rope = RopeTables.forRange(config, 0, n);
        Map<String, INDArray> feed = new HashMap<>();
        feed.put(TextDecoder.INPUTS_EMBEDS, embeds.dup('c'));
        feed.put(TextDecoder.COS, rope.cos());
        feed.put(TextDecoder.SIN, rope.sin());
        feed.put(TextDecoder.ATTENTION_MASK, Nd4j.zeros(DataType.FLOAT, 1, 1, n, n));
        feed.put(TextDecoder.MODALITY, Nd4j.zeros(DataType.FLOAT, 1, n));
        for (int i = 0; i < masks.length; i++) {
            feed.put("layer_mask." + i, Nd4j.create(masks[i], new long[]{1, 1, n, n}, DataType.FLOAT));
        }
        return decoder.sameDiff().output(feed, TextDecoder.LOGITS).get(TextDecoder.LOGITS);
    }

    /**
     * A quantized cache feeds attention exactly the dequantized tensors: the step logits equal a step over a float32
     * cache holding the full-precision prefill cache quantized and dequantized token by token here with core's
     * KvQuantizer.
     */
    @Test
    void quantizedCacheFeedsTheDequantizedTensors() {
        LlavaModel model = (LlavaModel) VlmLoader.load(Fixtures.dir("llava"));
        try (SafeTensorsFile golden = Fixtures.golden("llava")) {
            DecoderInput prompt = model.decoderInput(llavaCase0(golden));
            int l = prompt.length();
            DecodeStep step = model.decodeStep();
            for (int bits : new int[]{4, 2}) {
                Generator.Session quantizedSession = generator(model).withPolicy(CachePolicy.quantized(new KvQuantization(bits, 64, 128)))
                        .start(prompt, l + 1);
                long token = Generator.argmax(quantizedSession.logits());
                INDArray quantized = row(quantizedSession.step(token));

                Generator.Session plain = generator(model).start(prompt, l + 1);
                StaticCache reference = step.newCache(1, l + 1, StaticCache.float32());
                KvQuantizer q = new KvQuantizer(bits, 64);
                for (int layer = 0; layer < reference.layers(); layer++) {
                    List<INDArray> tensors = new ArrayList<>();
                    for (int j = 0; j < 2; j++) { // key, value: one token's row = 4 heads · 16 = 64 values = one group
                        INDArray perToken = Nd4j.create(plain.cache().rowsOf(layer, j, 0), new long[]{l, 64}, 'c');
                        INDArray back = q.dequantize(q.quantize(perToken)).reshape(1, l, 4, 16).permute(0, 2, 1, 3).dup('c');
                        tensors.add(back);
                    }
                    reference.prefill(layer, tensors);
                }
                reference.advance(l);
                float[] embedding = step.embed(new long[]{token});
                INDArray ref = row(step.logits(embedding, 1, StepRope.of(RopeTables.forRange(model.config().textConfig(), l, 1)),
                        new float[]{DecoderInput.TEXT}, reference, null));
                double err = Fixtures.maxAbsDiff(quantized, ref);
                double vsFull = Fixtures.maxAbsDiff(quantized, row(plain.step(token)));
                System.out.printf("int%d g64: step logits vs independent dequantized feed %.3e; vs float32 cache %.3e%n", bits, err, vsFull);
                assertTrue(err <= 1e-5, "int" + bits + " step differs from the dequantized reference by " + err);
                assertTrue(vsFull > 0, "quantization should perturb the logits");
            }
        }
    }

    /**
     * Decoding the text after the image through the cache: with the float32 cache it is the same computation as the
     * one-pass prefill (first-token logits and every generated id equal); with an int2 cache the first token's
     * logits move, because they now read the quantized image keys and values.
     */
    @Test
    void textAfterTheImageThroughTheCacheEqualsOnePrefillWithTheFullCacheAndFeelsQuantization() {
        LlavaModel model = (LlavaModel) VlmLoader.load(Fixtures.dir("llava"));
        try (SafeTensorsFile golden = Fixtures.golden("llava")) {
            DecoderInput prompt = model.decoderInput(llavaCase0(golden));
            int split = Generator.afterLastVisual(prompt);
            long[] ids = golden.readLongs("c0.input_ids");
            int lastImageToken = -1;
            for (int i = 0; i < ids.length; i++) if (ids[i] == model.config().imageTokenId()) lastImageToken = i;
            assertTrue(split > 0 && split < prompt.length(), "the prompt has text after its image: split " + split);

            Generation onePass = generator(model).run(prompt, 6, Set.of(), false, ids2 -> false);
            Generation split2 = generator(model).withPolicy(CachePolicy.FULL.withTextAfterImageThroughCache())
                    .run(prompt, 6, Set.of(), false, ids2 -> false);
            assertArrayEquals(onePass.tokens(), split2.tokens());
            assertEquals(prompt.length() + 5, split2.cache().tokensSeen(), "prompt + 5 decoded tokens in the cache");

            // First-token logits: one pass vs prefix prefill + tail steps, float32 and int2.
            INDArray onePassLogits = row(generator(model).start(prompt, prompt.length()).logits());
            INDArray viaSteps = firstLogitsThroughCache(generator(model), prompt, split);
            double same = Fixtures.maxAbsDiff(onePassLogits, viaSteps);
            double int2 = Fixtures.maxAbsDiff(onePassLogits,
                    firstLogitsThroughCache(generator(model).withPolicy(CachePolicy.quantized(new KvQuantization(2, 64, 0))), prompt, split));
            System.out.printf("text after image (split at %d of %d, last image token %d): float32 cache %.3e, int2 cache %.3e%n",
                    split, prompt.length(), lastImageToken, same, int2);
            assertTrue(same <= 1e-4, "float32 cache split differs from one pass by " + same);
            assertTrue(int2 > 1e-3, "an int2 cache should move the first token's logits, moved " + int2);
            assertEquals(CachePolicy.FULL.label() + "+text-through-cache", CachePolicy.FULL.withTextAfterImageThroughCache().label());
        }
    }

    /** The logits of the prompt's last position when it is prefilled to {@code split} and stepped through the rest. */
    private static INDArray firstLogitsThroughCache(Generator gen, DecoderInput prompt, int split) {
        Generator.Session session = gen.start(prompt.prefix(split), prompt.length());
        float[] logits = session.logits();
        for (int j = split; j < prompt.length(); j++) {
            logits = session.stepEmbedded(prompt.embeds(j, j + 1).reshape(-1).toFloatVector(), prompt.rope().positions(j, j + 1),
                    prompt.modality().getFloat(0, j) == DecoderInput.VISUAL);
        }
        return row(logits);
    }

    @Test
    void quantizedCacheReportsPackedBytes() {
        LlavaModel model = (LlavaModel) VlmLoader.load(Fixtures.dir("llava"));
        try (SafeTensorsFile golden = Fixtures.golden("llava")) {
            DecoderInput prompt = model.decoderInput(llavaCase0(golden));
            // 3 layers · (key + value) · 64 values per token: float32 1536 bytes, int4 g64 6 · (32 + 4) = 216 bytes.
            assertEquals(1536, model.kvCacheBytesPerToken());
            Generation hf = generator(model).withPolicy(CachePolicy.quantized(KvQuantization.of(4))).run(prompt, 8, Set.of(), false, ids -> false);
            // residual 128: the 47 prompt tokens quantized, the 7 cached new tokens still float32
            assertEquals(54, hf.cache().tokensSeen());
            assertEquals(47L * 216 + 7L * 1536, hf.cache().bytesHeld());
            Generation all = generator(model).withPolicy(CachePolicy.quantized(new KvQuantization(4, 64, 0))).run(prompt, 8, Set.of(), false, ids -> false);
            assertEquals(54L * 216, all.cache().bytesHeld());
            assertEquals(216.0, all.cache().bytesPerToken(), 1e-12);
            Generation int2 = generator(model).withPolicy(CachePolicy.quantized(new KvQuantization(2, 64, 0))).run(prompt, 8, Set.of(), false, ids -> false);
            assertEquals(54L * 6 * (16 + 4), int2.cache().bytesHeld());
            long[] plain = generator(model).generate(prompt, 8, Set.of(), false);
            Generation int8 = generator(model).withPolicy(CachePolicy.quantized(new KvQuantization(8, 64, 0))).run(prompt, 8, Set.of(), false, ids -> false);
            System.out.printf("greedy ids float32 %s%n  int8 %s%n  int4 %s%n  int2 %s%n", java.util.Arrays.toString(plain),
                    java.util.Arrays.toString(int8.tokens()), java.util.Arrays.toString(all.tokens()), java.util.Arrays.toString(int2.tokens()));
        }
    }

    @Test
    void stopConditionEndsGenerationEarly() {
        LlavaModel model = (LlavaModel) VlmLoader.load(Fixtures.dir("llava"));
        try (SafeTensorsFile golden = Fixtures.golden("llava")) {
            MultimodalInput c1 = MultimodalInput.text(golden.readLongs("c1.input_ids"));
            long[] expected = golden.readLongs("c1.generated_ids");
            Generation g = model.generate(c1, 8, false, CachePolicy.FULL, ids -> ids.length == 3);
            assertArrayEquals(java.util.Arrays.copyOf(expected, 3), g.tokens());
            assertEquals(c1.length() + 2, g.cache().tokensSeen());
        }
    }

    /**
     * A generated {@code <|vision_start|>} is visual, as the full pass over the same ids counts it (issue 24, item 4: the
     * authors route it through the visual factors): on the Qwen2.5-VL fixture converted with per-modality factors, the
     * token is cached with modality visual in every layer, its step's logits equal the full pass over prompt + token,
     * and feeding it as text would have moved them.
     */
    @Test
    void aGeneratedVisionStartTokenIsCachedThroughTheVisualFactors() {
        VisionLanguageModel original = VlmLoader.load(Fixtures.dir("qwen2_5_vl"));
        MultimodalInput prompt = Fixtures.input("qwen2_5_vl", "c0");
        VisionLanguageModel mla = Mha2MlaConverter.convert(original, List.of(prompt, Fixtures.input("qwen2_5_vl", "c1")),
                Mha2MlaConverter.Options.defaults(Math.max(1, original.config().textConfig().headDim() / 4))).model();
        long visionStart = ((Qwen25VlConfig) mla.config()).visionStartTokenId();
        assertTrue(mla.isVisualToken(visionStart) && !mla.isVisualToken(prompt.inputIds()[prompt.length() - 1]));
        int l = prompt.length();
        Generator.Session session = mla.generator(prompt, CachePolicy.FULL).start(mla.decoderInput(prompt), l + 1);
        INDArray stepped = row(session.step(visionStart));
        for (int layer = 0; layer < session.cache().layers(); layer++) {
            assertEquals(DecoderInput.VISUAL, session.cache().rowsOf(layer, 2, 0)[l], "layer " + layer + " caches the token as visual");
        }
        long[] ids = java.util.Arrays.copyOf(prompt.inputIds(), l + 1);
        ids[l] = visionStart;
        INDArray full = mla.logits(new MultimodalInput(ids, prompt.pixelValues(), prompt.imageSizes(), prompt.imageGridThw()));
        INDArray last = full.getRow(l).reshape(1, -1);
        double err = Fixtures.maxAbsDiff(stepped, last);

        Generator.Session asText = mla.generator(prompt, CachePolicy.FULL).start(mla.decoderInput(prompt), l + 1);
        INDArray text = row(asText.stepEmbedded(mla.decodeStep().embed(new long[]{visionStart}), mla.stepRope(prompt).apply(l), false));
        double moved = Fixtures.maxAbsDiff(text, last);
        System.out.printf("generated <|vision_start|> through the visual factors vs the full pass %.3e; through the text factors %.3e%n", err, moved);
        assertTrue(err <= 1e-4, "visual routing differs from the full pass by " + err);
        assertTrue(moved > 100 * err, "the text factors should give other logits, or this test checks nothing: " + moved);
    }

    /** Greedy generation as the model's generate does it (1-D positions: the LLaVA fixtures). */
    static Generator generator(org.mha2mla.layers.VisionLanguageModel model) {
        return model.generator(null, CachePolicy.FULL);
    }
}
