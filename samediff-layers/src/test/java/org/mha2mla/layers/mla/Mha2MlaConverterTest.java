package org.mha2mla.layers.mla;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.MRope;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generator;
import org.mha2mla.layers.qwen25vl.Qwen25VlModel;
import org.mha2mla.layers.text.RopeTables;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The converter and the converted models on the three transformers fixtures, calibrated on their golden inputs
 * (c0: image + text, c1: text only) and fed those inputs.
 */
class Mha2MlaConverterTest {

    static final String[] FIXTURES = {"llava", "llava_next", "qwen2_5_vl"};
    private static final Map<String, VisionLanguageModel> ORIGINAL = new ConcurrentHashMap<>();

    static VisionLanguageModel original(String fixture) {
        return ORIGINAL.computeIfAbsent(fixture, f -> VlmLoader.load(Fixtures.dir(f)));
    }

    private static final Map<String, Mha2MlaConverter.Result> DEFAULT = new ConcurrentHashMap<>();

    /** The fixture converted with the defaults (MKL, d_r = d_h/4, MD-SVD) at d_kv = d_h/4, shared by the tests. */
    static Mha2MlaConverter.Result defaultConversion(String fixture) {
        return DEFAULT.computeIfAbsent(fixture, f -> Mha2MlaConverter.convert(original(f), calibration(f),
                Mha2MlaConverter.Options.builder(Math.max(1, original(f).config().textConfig().headDim() / 4)).ablations(true).build()));
    }

    static List<MultimodalInput> calibration(String fixture) {
        return List.of(Fixtures.input(fixture, "c0"), Fixtures.input(fixture, "c1"));
    }

    /** Largest d_kv: rank n_kv·d_kv = min(d, rows of [W_k,nope; W_v]), i.e. no truncation. */
    static int fullRankDKv(TextConfig t, int ropeDim) {
        return Math.min(2 * t.headDim() - ropeDim, t.hiddenSize() / t.numKeyValueHeads());
    }

    static double maxAbs(INDArray a) {
        return a.amaxNumber().doubleValue();
    }

    static double relative(INDArray actual, INDArray expected) {
        assertArrayEquals(expected.shape(), actual.shape());
        return maxAbs(actual.sub(expected)) / maxAbs(expected);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llava", "llava_next", "qwen2_5_vl"})
    void everyPairKeptAtFullRankReproducesTheOriginalLogits(String fixture) {
        VisionLanguageModel m = original(fixture);
        TextConfig t = m.config().textConfig();
        Mha2MlaConverter.Options o = Mha2MlaConverter.Options.defaults(fullRankDKv(t, t.headDim()))
                .with(RopeStrategy.HIGH).withRopeDim(t.headDim());
        Mha2MlaConverter.Result mla = Mha2MlaConverter.convert(m, calibration(fixture), o);
        Mha2MlaConverter.Result rope = Mha2MlaConverter.convert(m, calibration(fixture), o.with(Mha2MlaConfig.Step.ROPE));
        assertTrue(mla.model().conversion().isMla());
        assertFalse(rope.model().conversion().isMla());
        try (SafeTensorsFile golden = Fixtures.golden(fixture)) {
            for (String c : new String[] {"c0", "c1"}) {
                MultimodalInput in = Fixtures.input(fixture, c);
                INDArray reference = m.logits(in);
                double mlaErr = relative(mla.model().logits(in), reference);
                double ropeErr = relative(rope.model().logits(in), reference);
                double goldenErr = relative(mla.model().logits(in), golden.readFloat32(c + ".logits"));
                System.out.printf("%s %s identity: MLA (d_r = d_h, rank %d) vs original %.2e, vs golden %.2e; partial RoPE (all pairs) %.2e (relative max abs)%n",
                        fixture, c, mla.conversion().dKv() * t.numKeyValueHeads(), mlaErr, goldenErr, ropeErr);
                assertTrue(mlaErr <= 1e-3, fixture + " " + c + " MLA identity " + mlaErr);
                assertTrue(goldenErr <= 1e-3, fixture + " " + c + " MLA vs golden " + goldenErr);
                assertTrue(ropeErr <= 1e-6, fixture + " " + c + " partial RoPE identity " + ropeErr);
            }
        }
        for (ConversionReport.Layer l : mla.report().layers()) {
            assertEquals(0.0, l.attentionKl(), 1e-12, "no pair dropped, no KL");
            assertTrue(l.chosenLoss() <= 1e-9 * l.kvEnergy(), "full rank loses nothing: " + l);
        }
    }

    /**
     * With half the pairs kept (NoPE dims present) and no truncation, the MLA model — K_nope and V rebuilt from the
     * latent — equals the partial-RoPE model it factorises.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llava", "llava_next", "qwen2_5_vl"})
    void fullRankMlaEqualsItsPartialRopeModel(String fixture) {
        VisionLanguageModel m = original(fixture);
        TextConfig t = m.config().textConfig();
        int ropeDim = t.headDim() / 2;
        Mha2MlaConverter.Options o = Mha2MlaConverter.Options.defaults(fullRankDKv(t, ropeDim)).with(RopeStrategy.MKL).withRopeDim(ropeDim);
        Mha2MlaConverter.Result rope = Mha2MlaConverter.convert(m, calibration(fixture), o.with(Mha2MlaConfig.Step.ROPE));
        Mha2MlaConverter.Result mla = Mha2MlaConverter.convert(rope.model(), calibration(fixture), o.with(Mha2MlaConfig.Step.SVD));
        assertEquals(Mha2MlaConfig.Step.SVD, mla.conversion().step());
        assertArrayEquals(rope.conversion().keptPairs()[1], mla.conversion().keptPairs()[1]);
        for (String c : new String[] {"c0", "c1"}) {
            MultimodalInput in = Fixtures.input(fixture, c);
            INDArray partial = rope.model().logits(in);
            double err = relative(mla.model().logits(in), partial);
            System.out.printf("%s %s full-rank MLA (d_r %d, rank %d) vs partial RoPE %.2e; partial RoPE vs original %.2e%n",
                    fixture, c, ropeDim, mla.conversion().dKv() * t.numKeyValueHeads(), err, relative(partial, m.logits(in)));
            assertTrue(err <= 1e-3, fixture + " " + c + ": " + err);
        }
    }

    /**
     * Decode with absorption (latent cache, W_uk in the query, W_uv after the weighted sum) against the training
     * graph over the whole sequence (K and V materialised), at a truncating rank: every step's logits and the greedy ids.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llava", "llava_next", "qwen2_5_vl"})
    void absorbedDecodeEqualsTheNonAbsorbedGraph(String fixture) {
        VisionLanguageModel m = original(fixture);
        TextConfig t = m.config().textConfig();
        Mha2MlaConverter.Result r = defaultConversion(fixture);
        VisionLanguageModel mla = r.model();
        MultimodalInput prompt = Fixtures.input(fixture, "c0");
        Generator.Session session = mla.generator(prompt, CachePolicy.FULL).start(mla.decoderInput(prompt), prompt.length() + 6);
        INDArray stepLogits = Nd4j.create(session.logits(), new long[]{1, session.logits().length}, 'c');
        List<Long> ids = new ArrayList<>();
        double worst = 0;
        for (int n = 0; n < 6; n++) {
            long[] seq = concat(prompt.inputIds(), ids);
            INDArray full = mla.logits(new MultimodalInput(seq, prompt.pixelValues(), prompt.imageSizes(), prompt.imageGridThw()));
            INDArray last = full.getRow(full.rows() - 1).reshape(1, -1);
            worst = Math.max(worst, relative(stepLogits, last));
            long token = argmax(last);
            assertEquals(token, argmax(stepLogits), fixture + " step " + n);
            ids.add(token);
            float[] next = session.step(token);
            stepLogits = Nd4j.create(next, new long[]{1, next.length}, 'c');
        }
        System.out.printf("%s absorbed decode vs full graph: max relative logits difference %.2e over 6 steps, ids %s%n", fixture, worst, ids);
        assertTrue(worst <= 1e-4, fixture + ": " + worst);
        assertArrayEquals(ids.stream().mapToLong(Long::longValue).toArray(), mla.generate(prompt, 6, false));
        // The latent cache: n_kv·d_kv + n_kv·d_r values + the modality tag per token and layer, float32.
        int nKv = t.numKeyValueHeads();
        assertEquals((long) t.numHiddenLayers() * (nKv * r.conversion().dKv() + nKv * r.conversion().ropeDim() + 1) * 4,
                mla.kvCacheBytesPerToken());
        assertEquals(mla.kvCacheBytesPerToken(), r.report().convertedCacheBytesPerToken());
        assertEquals(m.kvCacheBytesPerToken(), r.report().originalCacheBytesPerToken());
    }

    /** Theorem 2.1 on real activations: per modality factors never lose more than one shared pair, layer by layer. */
    @ParameterizedTest
    @ValueSource(strings = {"llava", "llava_next", "qwen2_5_vl"})
    void theorem21SplitLossIsAtMostJointLossOnEveryLayer(String fixture) {
        VisionLanguageModel m = original(fixture);
        TextConfig t = m.config().textConfig();
        Mha2MlaConverter.Result r = defaultConversion(fixture);
        System.out.print(fixture + ":\n" + r.report().table());
        assertEquals(t.numHiddenLayers(), r.report().layers().size());
        assertTrue(r.report().visualTokens() > 0 && r.report().textTokens() > 0);
        for (ConversionReport.Layer l : r.report().layers()) {
            assertTrue(l.splitLoss() > 0 && l.jointLoss() > 0, l.toString());
            assertTrue(l.splitLoss() <= l.jointLoss(), fixture + " layer " + l.layer() + ": split " + l.splitLoss() + " > joint " + l.jointLoss());
            assertEquals(l.splitLoss(), l.chosenLoss());
            assertTrue(l.attentionKl() > 0 && Double.isFinite(l.attentionKl()), l.toString());
        }
        // Without --ablations only the chosen factorisation is computed: no joint figures.
        Mha2MlaConverter.Result plain = Mha2MlaConverter.convert(m, calibration(fixture),
                Mha2MlaConverter.Options.defaults(Math.max(1, t.headDim() / 4)));
        for (int l = 0; l < t.numHiddenLayers(); l++) {
            ConversionReport.Layer a = plain.report().layers().get(l);
            assertTrue(Double.isNaN(a.jointLoss()), a.toString());
            assertEquals(r.report().layers().get(l).chosenLoss(), a.chosenLoss(), 1e-9 * a.chosenLoss());
        }
    }

    /** Calibration activations kept on disk (a budget of 0 bytes) give the same conversion bit for bit. */
    @Test
    void activationsSpilledToDiskGiveTheSameConversion(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) {
        VisionLanguageModel m = original("qwen2_5_vl");
        Mha2MlaConverter.Options o = Mha2MlaConverter.Options.defaults(4);
        Mha2MlaConverter.Result inMemory = Mha2MlaConverter.convert(m, calibration("qwen2_5_vl"), o);
        Mha2MlaConverter.Result spilled = Mha2MlaConverter.convert(m, calibration("qwen2_5_vl"),
                o.toBuilder().activationBudgetBytes(0).spillDir(tmp).build());
        assertEquals(inMemory.conversion(), spilled.conversion());
        for (String name : inMemory.model().weights().names()) {
            assertEquals(inMemory.model().weights().get(name), spilled.model().weights().get(name), name);
        }
        try (java.util.stream.Stream<java.nio.file.Path> left = java.nio.file.Files.list(tmp)) {
            assertEquals(0, left.count(), "the activation files are deleted");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void ropeThenSvdIsTheSameModelAsAllInOneGo() {
        VisionLanguageModel m = original("qwen2_5_vl");
        Mha2MlaConverter.Options o = Mha2MlaConverter.Options.defaults(4);
        Mha2MlaConverter.Result all = Mha2MlaConverter.convert(m, calibration("qwen2_5_vl"), o);
        Mha2MlaConverter.Result rope = Mha2MlaConverter.convert(m, calibration("qwen2_5_vl"), o.with(Mha2MlaConfig.Step.ROPE));
        Mha2MlaConverter.Result svd = Mha2MlaConverter.convert(rope.model(), calibration("qwen2_5_vl"), o.with(Mha2MlaConfig.Step.SVD));
        assertEquals(all.conversion().withMla(Mha2MlaConfig.Step.SVD, 4, SvdMethod.MD), svd.conversion());
        MultimodalInput in = Fixtures.input("qwen2_5_vl", "c0");
        assertEquals(0.0, relative(svd.model().logits(in), all.model().logits(in)), 1e-6);
        for (int l = 0; l < 3; l++) {
            assertEquals(all.report().layers().get(l).attentionKl(), rope.report().layers().get(l).attentionKl(), 1e-15);
            assertEquals(all.report().layers().get(l).splitLoss(), svd.report().layers().get(l).splitLoss(), 1e-9 * all.report().layers().get(l).splitLoss());
        }
        // The partial-RoPE model keeps GQA's full cache; the MLA one stores the latent.
        assertEquals(m.kvCacheBytesPerToken(), rope.model().kvCacheBytesPerToken());
        assertTrue(svd.model().kvCacheBytesPerToken() < rope.model().kvCacheBytesPerToken());
    }

    @Test
    void jointAndWeightBaselinesShareOneFactorPairAndLoseMore() {
        VisionLanguageModel m = original("llava_next");
        Mha2MlaConverter.Options o = Mha2MlaConverter.Options.builder(2).strategy(RopeStrategy.TWO_NORM).ablations(true).build();
        Mha2MlaConverter.Result md = Mha2MlaConverter.convert(m, calibration("llava_next"), o);
        Mha2MlaConverter.Result joint = Mha2MlaConverter.convert(m, calibration("llava_next"), o.with(SvdMethod.SVD_LLM));
        Mha2MlaConverter.Result weight = Mha2MlaConverter.convert(m, calibration("llava_next"), o.with(SvdMethod.SVD_JOINT));
        assertFalse(joint.conversion().decoupled());
        SameDiffNames names = new SameDiffNames(joint.model());
        assertTrue(names.has("language_model.model.layers.0.self_attn.kv_down_proj.weight"));
        assertFalse(names.has("language_model.model.layers.0.self_attn.kv_down_proj.text.weight"));
        assertFalse(names.has("language_model.model.layers.0.self_attn.k_proj.weight"));
        assertTrue(new SameDiffNames(md.model()).has("language_model.model.layers.2.self_attn.v_up_proj.visual.weight"));
        for (int l = 0; l < 3; l++) {
            ConversionReport.Layer a = md.report().layers().get(l);
            assertEquals(a.jointLoss(), joint.report().layers().get(l).chosenLoss(), 1e-9 * a.jointLoss());
            // weight-only SVD ignores the activations: the activation-aware joint factors are optimal for ‖WX − W'X‖
            assertTrue(weight.report().layers().get(l).chosenLoss() >= a.jointLoss() * (1 - 1e-9), "layer " + l);
        }
        // one cache tensor fewer: no modality tag without decoupled factors
        assertEquals(3L * 4 * (2 * 2 + 2 * 2), joint.model().kvCacheBytesPerToken());
    }

    @Test
    void badRequestsAreRefusedWithTheReason() {
        VisionLanguageModel m = original("llava");
        List<MultimodalInput> calib = calibration("llava");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Mha2MlaConverter.convert(m, calib,
                Mha2MlaConverter.Options.defaults(4).with(Mha2MlaConfig.Step.SVD)));
        assertTrue(e.getMessage().contains("step svd factorises a partial-RoPE model"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Mha2MlaConverter.convert(m, calib, Mha2MlaConverter.Options.defaults(17)));
        assertTrue(e.getMessage().contains("d_kv ≤ 16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Mha2MlaConverter.convert(m, List.of(Fixtures.input("llava", "c1")),
                Mha2MlaConverter.Options.defaults(4)));
        assertTrue(e.getMessage().contains("both modalities"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Mha2MlaConverter.convert(m, List.of(), Mha2MlaConverter.Options.defaults(4)));
        assertTrue(e.getMessage().contains("needs calibration samples"), e.getMessage());
        Mha2MlaConverter.Result mla = Mha2MlaConverter.convert(m, calib, Mha2MlaConverter.Options.defaults(4).with(RopeStrategy.LOW));
        e = assertThrows(IllegalArgumentException.class, () -> Mha2MlaConverter.convert(mla.model(), calib, Mha2MlaConverter.Options.defaults(4)));
        assertTrue(e.getMessage().contains("already converted"), e.getMessage());
    }

    /** The variable names of a converted model's graph. */
    record SameDiffNames(VisionLanguageModel m) {
        boolean has(String name) {
            return m.weights().contains(name);
        }
    }

    /** Step RoPE tables of the model: 1-D positions for LLaVA, cache position + rope_delta on all axes for Qwen2.5-VL. */
    static java.util.function.LongFunction<RopeTables> stepRope(VisionLanguageModel m, MultimodalInput prompt) {
        TextConfig t = m.config().textConfig();
        if (!(m instanceof Qwen25VlModel q)) return p -> RopeTables.forRange(t, p, 1);
        MRope.RopeIndex index = q.ropeIndex(prompt);
        return p -> {
            CosSin cs = MRope.cosSin(index.decodePositions(p, 1), t.headDim(), t.ropeTheta(), t.mropeSection());
            long[] shape = {1, 1, 1, t.headDim()};
            return new RopeTables(cs.cos().reshape(shape), cs.sin().reshape(shape));
        };
    }

    static long[] concat(long[] a, List<Long> b) {
        long[] out = java.util.Arrays.copyOf(a, a.length + b.size());
        for (int i = 0; i < b.size(); i++) out[a.length + i] = b.get(i);
        return out;
    }

    static long argmax(INDArray row) {
        return row.reshape(-1).argMax().getLong(0);
    }
}
