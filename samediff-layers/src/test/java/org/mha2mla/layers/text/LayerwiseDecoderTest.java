package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The layer-at-a-time decoder against the whole-model graph, on the three fixtures (weights mapped from their bf16 /
 * f16 files) and on their partial-RoPE and MLA conversions (weights in memory): the same ops in the same order, so
 * logits and every hidden state agree to 1e-6.
 */
class LayerwiseDecoderTest {

    @ParameterizedTest
    @ValueSource(strings = {"llava", "llava_next", "qwen2_5_vl"})
    void originalModelsMatchTheWholeGraphFromTheMappedFile(String fixture) {
        VisionLanguageModel m = VlmLoader.load(Fixtures.dir(fixture));
        try (TensorSource weights = KeyLayout.canonical(Checkpoint.open(Fixtures.dir(fixture)), m.config().modelType())) {
            for (LayerwiseDecoder.Residency r : LayerwiseDecoder.Residency.values()) {
                try (LayerwiseDecoder layerwise = layerwise(m, weights, r)) {
                    for (String c : new String[]{"c0", "c1"}) compare(m, layerwise, Fixtures.input(fixture, c), fixture + " " + c + " " + r, false);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llava", "llava_next", "qwen2_5_vl"})
    void convertedModelsMatchTheWholeGraphFromMemory(String fixture) {
        VisionLanguageModel m = VlmLoader.load(Fixtures.dir(fixture));
        List<MultimodalInput> calibration = List.of(Fixtures.input(fixture, "c0"), Fixtures.input(fixture, "c1"));
        int dKv = Math.max(1, m.config().textConfig().headDim() / 4);
        Mha2MlaConverter.Options o = Mha2MlaConverter.Options.defaults(dKv);
        Mha2MlaConverter.Result rope = Mha2MlaConverter.convert(m, calibration, o.with(org.mha2mla.core.config.Mha2MlaConfig.Step.ROPE));
        Mha2MlaConverter.Result mla = Mha2MlaConverter.convert(m, calibration, o);
        for (Mha2MlaConverter.Result r : List.of(rope, mla)) {
            try (LayerwiseDecoder layerwise = layerwise(r.model(), r.model().weights(), LayerwiseDecoder.Residency.KEEP)) {
                compare(r.model(), layerwise, Fixtures.input(fixture, "c0"), fixture + " " + r.conversion(), false);
            }
        }
    }

    /**
     * Query blocks of 7 rows against the whole graph, for the original model, its partial-RoPE and its MLA conversion: hidden states and
     * logits (1e-6), and the prefill's cache tensors and attention probabilities against the unblocked layer pass; for
     * the original, also the nodes calibration reads (which the blocks assemble, not a whole pass).
     */
    @ParameterizedTest
    @ValueSource(strings = {"llava", "qwen2_5_vl"})
    void queryBlocksMatchTheWholePass(String fixture) {
        VisionLanguageModel m = VlmLoader.load(Fixtures.dir(fixture));
        MultimodalInput input = Fixtures.input(fixture, "c0");
        VisionLanguageModel rope = converted(m, fixture, org.mha2mla.core.config.Mha2MlaConfig.Step.ROPE);
        VisionLanguageModel mla = converted(m, fixture, org.mha2mla.core.config.Mha2MlaConfig.Step.ALL);
        for (VisionLanguageModel model : List.of(m, rope, mla)) {
            DecoderInput in = model.decoderInput(input);
            long length = in.length();
            long bytes = 4L * model.config().textConfig().numAttentionHeads() * length * 7;
            String what = fixture + " " + (model == m ? "original" : model == rope ? "partial RoPE" : "MLA") + " in blocks of 7 of " + length + " rows";
            assertTrue(LayerwiseDecoder.queryRows(1, model.config().textConfig().numAttentionHeads(), length, bytes) == 7, what);
            try (LayerwiseDecoder whole = layerwise(model, model.weights(), LayerwiseDecoder.Residency.KEEP);
                 LayerwiseDecoder blocked = new LayerwiseDecoder(model.weights(), model.config().textConfig(), model.decoderPrefix(),
                         model.lmHeadKey(), model.attention(), LayerwiseDecoder.Residency.KEEP, bytes)) {
                compare(model, blocked, input, what, true);
                List<String> prefill = new ArrayList<>();
                prefill.add(LayerwiseDecoder.PROBS);
                for (DecoderAttention.CacheTensor c : whole.cacheTensors(0)) prefill.add(LayerwiseDecoder.present(c.name()));
                compareLayer(whole, blocked, in, prefill, what);
                if (model == m) {
                    // What calibration reads: the queries (query rows) and keys (key rows) before RoPE, the k/v input.
                    String attention = TextDecoder.attentionScope(0);
                    compareLayer(whole, blocked, in, List.of(GqaAttention.queryBeforeRope(attention), GqaAttention.keyBeforeRope(attention),
                            TextDecoder.attentionInput(0)), what + ", calibration nodes");
                }
            }
        }
    }

    /**
     * Calibration's two streams on one runner ({@link LayerwiseDecoder#sibling}): the original model's decoder and a
     * partial-RoPE sibling, their passes interleaved layer by layer as calibration runs them (the sibling finds each
     * layer's weights widened by the original's pass), give bit for bit what each gives on a runner of its own.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llava", "qwen2_5_vl"})
    void aSiblingOnTheSameRunnerGivesWhatItGivesAlone(String fixture) {
        VisionLanguageModel m = VlmLoader.load(Fixtures.dir(fixture));
        VisionLanguageModel rope = converted(m, fixture, org.mha2mla.core.config.Mha2MlaConfig.Step.ROPE);
        DecoderInput in = m.decoderInput(Fixtures.input(fixture, "c0"));
        try (LayerwiseDecoder original = layerwise(m, m.weights(), LayerwiseDecoder.Residency.RELEASE);
             LayerwiseDecoder sibling = original.sibling(rope.attention());
             LayerwiseDecoder originalAlone = layerwise(m, m.weights(), LayerwiseDecoder.Residency.RELEASE);
             LayerwiseDecoder ropeAlone = layerwise(rope, rope.weights(), LayerwiseDecoder.Residency.RELEASE)) {
            INDArray h = in.inputsEmbeds();
            INDArray hRope = in.inputsEmbeds();
            for (int i = 0; i < original.numLayers(); i++) {
                INDArray next = original.layer(i, h, in, List.of()).get(LayerwiseDecoder.OUT).dup();
                INDArray nextRope = sibling.layer(i, hRope, in, List.of()).get(LayerwiseDecoder.OUT).dup();
                assertEquals(originalAlone.layer(i, h, in, List.of()).get(LayerwiseDecoder.OUT), next, fixture + " original, layer " + i);
                assertEquals(ropeAlone.layer(i, hRope, in, List.of()).get(LayerwiseDecoder.OUT), nextRope, fixture + " partial RoPE sibling, layer " + i);
                assertTrue(next.sub(nextRope).amaxNumber().doubleValue() > 0, fixture + ": the sibling ran the original's attention, layer " + i);
                h = next;
                hRope = nextRope;
            }
        }
    }

    /** Layer 0 of {@code whole} and of {@code blocked} (in query blocks) over the embeddings: its output and {@code names} (1e-6). */
    private static void compareLayer(LayerwiseDecoder whole, LayerwiseDecoder blocked, DecoderInput in, List<String> names, String what) {
        Map<String, INDArray> expected = whole.layer(0, in.inputsEmbeds(), in, names);
        Map<String, INDArray> actual = blocked.layer(0, in.inputsEmbeds(), in, names);
        List<String> all = new ArrayList<>(names);
        all.add(LayerwiseDecoder.OUT);
        for (String name : all) {
            assertArrayEquals(expected.get(name).shape(), actual.get(name).shape(), what + " " + name);
            double diff = expected.get(name).sub(actual.get(name)).amaxNumber().doubleValue();
            assertTrue(diff <= 1e-6, what + ": max |Δ " + name + "| " + diff);
        }
    }

    /**
     * A query block attends to a prefix alone where the mask hides every later key from each of its rows and each row
     * sees an earlier key, the prefix rounded up to the step of {@link LayerwiseDecoder#keyQuantum}; otherwise to all
     * rows (a padding row that sees nothing, a mask that is not causal).
     */
    @Test
    void keyRowsAreAPrefixOnlyWhereTheMaskHidesTheRest() {
        INDArray causal = AttentionMask.causal(10, 0);
        assertEquals(4, LayerwiseDecoder.keyRows(causal, 0, 4, 1));
        assertEquals(7, LayerwiseDecoder.keyRows(causal, 4, 7, 1));
        assertEquals(10, LayerwiseDecoder.keyRows(causal, 7, 10, 1));
        assertEquals(8, LayerwiseDecoder.keyRows(causal, 4, 7, 4));
        assertEquals(10, LayerwiseDecoder.keyRows(causal, 6, 9, 6));
        // Blocks of 2 over 10 rows: 5 blocks, key lengths 4, 8 and 10; blocks of 7 over 47: 7 blocks, lengths 14 ... 47.
        assertEquals(4, LayerwiseDecoder.keyQuantum(10, 2));
        assertEquals(14, LayerwiseDecoder.keyQuantum(47, 7));
        assertEquals(3, LayerwiseDecoder.keyQuantum(9, 3));
        // Left padding of 3 in the second sequence: its rows 0–2 see no key, so a block holding them keeps all rows.
        long[][] keep = {{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 1, 1, 1, 1, 1}};
        INDArray padded = AttentionMask.causal(keep, 10);
        assertEquals(10, LayerwiseDecoder.keyRows(padded, 0, 4, 1));
        assertEquals(6, LayerwiseDecoder.keyRows(padded, 3, 6, 1));
        // Bidirectional: every row sees every key.
        assertEquals(10, LayerwiseDecoder.keyRows(Nd4j.zeros(DataType.FLOAT, 1, 1, 10, 10), 0, 4, 1));
    }

    /**
     * A query block's inputs are copies of the pass's rows, closed after the block ({@link LayerwiseDecoder#closeCopies}),
     * except the cache tensors of a block that sees every key row, which are the pass's own arrays and stay open for the
     * blocks after it.
     */
    @Test
    void aBlockClosesTheRowsItCopiedAndNotTheCacheTensorsItShares() {
        int length = 6, d = 4, dH = 2;
        INDArray h = Nd4j.rand(DataType.FLOAT, 1, length, d);
        INDArray cos = Nd4j.rand(DataType.FLOAT, 1, 1, length, dH);
        INDArray sin = Nd4j.rand(DataType.FLOAT, 1, 1, length, dH);
        DecoderInput in = new DecoderInput(h, new RopeTables(cos, sin), AttentionMask.causal(length, 0));
        List<DecoderAttention.CacheTensor> specs = List.of(new DecoderAttention.CacheTensor("key", new long[]{-1, 1, -1, dH}, 2));
        INDArray keys = Nd4j.rand(DataType.FLOAT, 1, 1, length, dH);
        Map<String, INDArray> present = Map.of(LayerwiseDecoder.present("key"), keys);

        Map<String, INDArray> prefix = LayerwiseDecoder.attendInputs(h, in, 0, 3, 3, specs, present);
        assertArrayEquals(new long[]{1, 1, 3, dH}, prefix.get(LayerwiseDecoder.past("key")).shape());
        assertArrayEquals(new long[]{1, 1, 3, 3}, prefix.get(TextDecoder.ATTENTION_MASK).shape());
        LayerwiseDecoder.closeCopies(prefix, present);
        for (Map.Entry<String, INDArray> e : prefix.entrySet()) assertTrue(e.getValue().wasClosed(), e.getKey() + " closed");

        Map<String, INDArray> all = LayerwiseDecoder.attendInputs(h, in, 3, 6, length, specs, present);
        assertSame(keys, all.get(LayerwiseDecoder.past("key")));
        LayerwiseDecoder.closeCopies(all, present);
        assertFalse(keys.wasClosed(), "the shared cache tensor stays open");
        assertEquals(keys.sumNumber().doubleValue(), keys.dup().sumNumber().doubleValue());
        for (String name : List.of(LayerwiseDecoder.QUERY_X, TextDecoder.ATTENTION_MASK, LayerwiseDecoder.QUERY_COS, LayerwiseDecoder.QUERY_SIN)) {
            assertTrue(all.get(name).wasClosed(), name + " closed");
        }
        assertFalse(h.wasClosed() || cos.wasClosed() || in.attentionMask().wasClosed(), "the pass's own arrays stay open");
    }

    private static void compare(VisionLanguageModel m, LayerwiseDecoder layerwise, MultimodalInput input, String what, boolean relative) {
        DecoderInput in = m.decoderInput(input);
        TextDecoder whole = m.graph();
        INDArray expected = whole.hiddenStates(in);
        INDArray actual = layerwise.hiddenStates(in);
        assertArrayEquals(expected.shape(), actual.shape(), what);
        double scale = relative ? Math.max(1, expected.amaxNumber().doubleValue()) : 1;
        double hidden = expected.sub(actual).amaxNumber().doubleValue();
        double logits = whole.logits(in).sub(layerwise.logits(in)).amaxNumber().doubleValue();
        assertTrue(hidden <= 1e-6 * scale && logits <= 1e-6, what + ": max |Δ hidden| " + hidden + ", max |Δ logits| " + logits
                + " (max |hidden| " + expected.amaxNumber() + ")");
        System.out.printf(java.util.Locale.ROOT, "%s: max |Δ hidden| %.2e of max |hidden| %.2f, max |Δ logits| %.2e%n", what, hidden,
                expected.amaxNumber().doubleValue(), logits);
    }

    /** {@code m} converted up to {@code step} with the default options at d_kv = d_h / 4, calibrated on the fixture's c0 and c1. */
    private static VisionLanguageModel converted(VisionLanguageModel m, String fixture, org.mha2mla.core.config.Mha2MlaConfig.Step step) {
        List<MultimodalInput> calibration = List.of(Fixtures.input(fixture, "c0"), Fixtures.input(fixture, "c1"));
        Mha2MlaConverter.Options o = Mha2MlaConverter.Options.defaults(Math.max(1, m.config().textConfig().headDim() / 4));
        return Mha2MlaConverter.convert(m, calibration, o.with(step)).model();
    }

    static LayerwiseDecoder layerwise(VisionLanguageModel m, TensorSource weights, LayerwiseDecoder.Residency residency) {
        return new LayerwiseDecoder(weights, m.config().textConfig(), m.decoderPrefix(), m.lmHeadKey(), m.attention(), residency);
    }
}
