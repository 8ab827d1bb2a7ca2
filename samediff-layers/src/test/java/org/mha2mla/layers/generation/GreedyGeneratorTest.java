package org.mha2mla.layers.generation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;

import org.junit.jupiter.api.Test;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.llava.LlavaModel;
import org.mha2mla.layers.llava.LlavaNextModel;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.RopeTables;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** Cached decoding against a full recompute of the whole sequence at every step. */
class GreedyGeneratorTest {

    @Test
    void cachedStepLogitsEqualFullRecomputeOnLlava() {
        LlavaModel model = LlavaModel.load(Fixtures.dir("llava"));
        try (SafeTensorsFile golden = Fixtures.golden("llava")) {
            MultimodalInput c0 = new MultimodalInput(golden.readLongs("c0.input_ids"), golden.readFloat32("c0.pixel_values"), null, null);
            double err = maxStepError(model.decoder(), model.generator(), model.decoderInput(c0), 6);
            System.out.printf("llava cached vs full-recompute logits max abs err over 6 steps %.3e%n", err);
            assertTrue(err <= 1e-4, "cached decode differs from full recompute by " + err);
        }
    }

    @Test
    void cachedStepLogitsEqualFullRecomputeOnLlavaNextGqa() {
        // 8 query heads on 2 KV heads: the cache holds n_kv heads and repeat_kv runs inside each step.
        LlavaNextModel model = LlavaNextModel.load(Fixtures.dir("llava_next"));
        try (SafeTensorsFile golden = Fixtures.golden("llava_next")) {
            long[] hw = golden.readLongs("c0.image_sizes");
            MultimodalInput c0 = new MultimodalInput(golden.readLongs("c0.input_ids"), golden.readFloat32("c0.pixel_values"),
                    new int[][]{{(int) hw[0], (int) hw[1]}}, null);
            double err = maxStepError(model.decoder(), model.generator(), model.decoderInput(c0), 6);
            System.out.printf("llava_next cached vs full-recompute logits max abs err over 6 steps %.3e%n", err);
            assertTrue(err <= 1e-4, "cached decode differs from full recompute by " + err);
        }
    }

    /** Runs {@code steps} cached steps; returns the max |cached − recomputed| logits over all of them. */
    static double maxStepError(TextDecoder decoder, GreedyGenerator gen, DecoderInput prompt, int steps) {
        GreedyGenerator.Prefill pre = gen.prefill(prompt);
        INDArray embeds = prompt.inputsEmbeds();
        double worst = Fixtures.maxAbsDiff(pre.lastLogits(), lastLogitsOfFullPass(decoder, embeds));
        KvCache cache = pre.cache();
        long token = GreedyGenerator.argmax(pre.lastLogits());
        for (int s = 0; s < steps; s++) {
            INDArray cached = gen.step(token, cache);
            embeds = Nd4j.concat(1, embeds, decoder.embed(new long[]{token}));
            assertEquals(embeds.size(1), cache.length());
            worst = Math.max(worst, Fixtures.maxAbsDiff(cached, lastLogitsOfFullPass(decoder, embeds)));
            token = GreedyGenerator.argmax(cached);
        }
        return worst;
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
        LlavaModel model = LlavaModel.load(Fixtures.dir("llava"));
        try (SafeTensorsFile golden = Fixtures.golden("llava")) {
            MultimodalInput c1 = MultimodalInput.text(golden.readLongs("c1.input_ids"));
            long[] expected = golden.readLongs("c1.generated_ids"); // 598, 449, 520, 449, …
            // Declare the third greedy token an EOS: generation must end right after emitting it.
            long[] stopped = model.generator().generate(model.decoderInput(c1), 8, Set.of((int) expected[2]), true);
            assertArrayEquals(java.util.Arrays.copyOf(expected, 3), stopped);
            long[] full = model.generator().generate(model.decoderInput(c1), 8, Set.of((int) expected[2]), false);
            assertArrayEquals(expected, full);
        }
    }

    @Test
    void argmaxTakesFirstMaximumLikeTorch() {
        assertEquals(1, GreedyGenerator.argmax(Nd4j.createFromArray(0f, 3f, 1f, 3f)));
    }
}
