package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

class PeftStageTest {

    private static List<MicroBatch> batches(VisionLanguageModel m, String fixture) {
        return List.of(MicroBatch.of(m, List.of(GoldenExamples.example(fixture, "c0", 8))),
                MicroBatch.of(m, List.of(GoldenExamples.example(fixture, "c1", 6))));
    }

    /**
     * The whole backward pass (decoder, RoPE, attention, masked CE, accumulation and normalisation) against
     * central finite differences of the loss along the gradient: (L(θ+εg) − L(θ−εg)) / 2ε = ‖g‖².
     */
    private static void gradientCheck(String fixture, FreezeMask mask) {
        try (VisionLanguageModel m = VlmLoader.load(TestFixtures.dir(fixture))) {
            gradientCheck(m, fixture, TestFixtures.stage(m, mask, AdamW.Config.defaults(0), 0));
        }
    }

    private static void gradientCheck(VisionLanguageModel m, String fixture, PeftStage stage) {
        FreezeMask mask = stage.mask();
        List<MicroBatch> b = batches(m, fixture);
        double loss = stage.accumulateGradients(b);
        assertEquals(loss, stage.loss(b), 1e-5);
        double gg = 0;
        Map<String, INDArray> g = new HashMap<>();
        for (Map.Entry<String, INDArray> e : stage.gradients().entrySet()) {
            g.put(e.getKey(), e.getValue().dup());
            double n = e.getValue().norm2Number().doubleValue();
            gg += n * n;
        }
        assertTrue(gg > 0);
        double eps = 1e-2 / gg;                       // moves the loss by ~1e-2, far above float32 noise
        Map<String, INDArray> p = stage.trainableParams();
        Map<String, INDArray> p0 = new HashMap<>();
        p.forEach((k, v) -> p0.put(k, v.dup()));
        p.forEach((k, v) -> v.addi(g.get(k).mul(eps)));
        double plus = stage.loss(b);
        p.forEach((k, v) -> v.assign(p0.get(k)).subi(g.get(k).mul(eps)));
        double minus = stage.loss(b);
        p.forEach((k, v) -> v.assign(p0.get(k)));
        double directional = (plus - minus) / (2 * eps);
        System.out.printf("%s %s: ‖g‖² %.6e, finite difference along g %.6e%n", fixture, mask.name(), gg, directional);
        assertEquals(gg, directional, 0.01 * gg, fixture + " " + mask.name() + ": ‖g‖² " + gg + " vs finite difference " + directional);
    }

    /**
     * Stage 2 on the Qwen2.5-VL fixture converted to MLA (MKL, d_r 4, MD-SVD d_kv 4, calibrated on its golden inputs):
     * a gradient reaches every STAGE2 parameter — q_proj, k_rope_proj, both modalities' kv_down/k_up/v_up and the
     * k_nope/v biases of each layer — and matches central finite differences, along the gradient and entry by entry.
     */
    @Test
    void stage2GradientsReachEveryMlaParameterAndMatchFiniteDifferences() {
        List<MultimodalInput> calibration = List.of(GoldenExamples.example("qwen2_5_vl", "c0", 8).input(),
                GoldenExamples.example("qwen2_5_vl", "c1", 6).input());
        try (VisionLanguageModel original = VlmLoader.load(TestFixtures.dir("qwen2_5_vl"))) {
            Mha2MlaConverter.Result mla = Mha2MlaConverter.convert(original, calibration, Mha2MlaConverter.Options.defaults(4));
            VisionLanguageModel m = mla.model();
            PeftStage stage = TestFixtures.stage(m, FreezeMask.stage2(), AdamW.Config.defaults(0), 0);
            List<String> expected = new ArrayList<>();
            for (int l = 0; l < 3; l++) {
                String k = "model.layers." + l + ".self_attn.";
                expected.addAll(List.of(k + "q_proj.weight", k + "q_proj.bias", k + "k_rope_proj.weight", k + "k_rope_proj.bias"));
                for (String mo : new String[] {"text", "visual"}) {
                    expected.addAll(List.of(k + "kv_down_proj." + mo + ".weight", k + "k_up_proj." + mo + ".weight", k + "v_up_proj." + mo + ".weight"));
                }
                expected.addAll(List.of(k + "k_nope_bias", k + "v_bias"));
            }
            assertEquals(new java.util.HashSet<>(expected), new java.util.HashSet<>(stage.trainable()));
            gradientCheck(m, "qwen2_5_vl", stage);

            List<MicroBatch> b = batches(m, "qwen2_5_vl");
            stage.accumulateGradients(b);
            Map<String, INDArray> g = new HashMap<>();
            stage.gradients().forEach((k, v) -> g.put(k, v.dup()));
            for (String n : expected) {
                double norm = g.get(n).norm2Number().doubleValue();
                // A key bias adds q·b to every logit of a query alike, which softmax cancels: its gradient is zero up to
                // rounding (as for the original k_proj.bias), but it must still be on the graph's path.
                if (n.endsWith("k_nope_bias")) assertTrue(norm < 1e-6, n + ": " + norm);
                else assertTrue(norm > 1e-6, n + " got a zero gradient");
            }
            for (String n : List.of("model.layers.0.self_attn.kv_down_proj.visual.weight", "model.layers.1.self_attn.k_up_proj.text.weight",
                    "model.layers.2.self_attn.v_up_proj.visual.weight", "model.layers.1.self_attn.k_rope_proj.weight",
                    "model.layers.0.self_attn.v_bias", "model.layers.2.self_attn.q_proj.bias", "model.layers.1.self_attn.kv_down_proj.text.weight")) {
                INDArray p = stage.trainableParams().get(n);
                INDArray flat = g.get(n).reshape(-1);
                long i = flat.dup().muli(flat).argMax().getLong(0);        // the entry with the largest |gradient|
                double analytic = flat.getDouble(i);
                double h = 0.01;
                double v0 = p.reshape(-1).getDouble(i);
                p.reshape(-1).putScalar(i, v0 + h);
                double plus = stage.loss(b);
                p.reshape(-1).putScalar(i, v0 - h);
                double minus = stage.loss(b);
                p.reshape(-1).putScalar(i, v0);
                double numeric = (plus - minus) / (2 * h);
                System.out.printf("stage 2 %s[%d]: gradient %.6e, finite difference %.6e%n", n, i, analytic, numeric);
                assertEquals(analytic, numeric, 0.03 * Math.abs(analytic) + 1e-5, n + "[" + i + "]");
            }
        }
    }

    @Test
    void gradientMatchesFiniteDifferencesLlava() {
        gradientCheck("llava", FreezeMask.stage1());
    }

    @Test
    void gradientMatchesFiniteDifferencesQwenGqaWithBiasesAndMrope() {
        gradientCheck("qwen2_5_vl", FreezeMask.stage1());
        // every decoder weight at once: norms, MLP, o/v projections and lm_head are differentiated correctly too
        gradientCheck("qwen2_5_vl", FreezeMask.of("decoder", List.of("model.layers.**", "model.norm.weight", "lm_head.weight")));
    }

    /**
     * A whole-graph pass runs on the arrays of the pass before it (PassArrays): the same micro-batches give the same
     * loss and gradients, bit for bit, on the first pass (fresh arrays) and on later ones (arrays holding the values of
     * the previous pass, of the other micro-batch's length in between).
     */
    @Test
    void repeatedPassesOnReusedArraysGiveTheFirstPassesGradientsBitwise() {
        try (VisionLanguageModel m = VlmLoader.load(TestFixtures.dir("qwen2_5_vl"))) {
            PeftStage stage = TestFixtures.stage(m, FreezeMask.stage1(), AdamW.Config.defaults(0), 0);
            List<MicroBatch> b = batches(m, "qwen2_5_vl");
            double first = stage.accumulateGradients(b);
            Map<String, INDArray> firstGrads = new HashMap<>();
            stage.gradients().forEach((k, v) -> firstGrads.put(k, v.dup()));
            for (int i = 0; i < 2; i++) {
                assertEquals(first, stage.accumulateGradients(List.of(b.get(1), b.get(0))), 0.0, "loss of repeat " + i);
                for (Map.Entry<String, INDArray> e : stage.gradients().entrySet()) {
                    org.junit.jupiter.api.Assertions.assertArrayEquals(firstGrads.get(e.getKey()).dup().data().asFloat(), e.getValue().dup().data().asFloat(),
                            "repeat " + i + ": gradient of " + e.getKey());
                }
            }
        }
    }

    @Test
    void frozenParametersStayBitwiseAndEveryTrainableOneChanges() {
        try (VisionLanguageModel m = VlmLoader.load(TestFixtures.dir("llava"))) {
            Map<String, float[]> before = new HashMap<>();
            for (String n : m.graph().sameDiff().variables().stream().map(v -> v.name()).toList()) {
                if (m.graph().sameDiff().getVariable(n).getVariableType() == org.nd4j.autodiff.samediff.VariableType.VARIABLE) {
                    before.put(n, m.graph().sameDiff().getVariable(n).getArr().dup().data().asFloat());
                }
            }
            PeftStage stage = TestFixtures.stage(m, FreezeMask.stage1(), AdamW.Config.defaults(0.01), 1.0);
            assertEquals(before.keySet(), new java.util.HashSet<>(stage.parameters()));
            assertEquals(6, stage.trainable().size());
            List<MicroBatch> b = batches(m, "llava");
            for (int s = 0; s < 3; s++) stage.step(b, 1e-3);
            int frozen = 0;
            for (String n : stage.parameters()) {
                float[] now = m.graph().sameDiff().getVariable(n).getArr().data().asFloat();
                if (stage.trainable().contains(n)) {
                    assertFalse(java.util.Arrays.equals(before.get(n), now), n + " did not change");
                    int changed = 0;
                    for (int i = 0; i < now.length; i++) if (now[i] != before.get(n)[i]) changed++;
                    assertTrue(changed > now.length * 0.9, n + ": only " + changed + " of " + now.length + " elements changed");
                } else {
                    assertTrue(java.util.Arrays.equals(before.get(n), now), n + " is frozen but changed");
                    frozen++;
                }
            }
            assertEquals(before.size() - 6, frozen);
            assertTrue(stage.summary().startsWith("stage1: trainable 24,576 / total "), stage.summary());
        }
    }

    @Test
    void aNonFiniteGradientSkipsTheUpdateAndLeavesWeightsAndOptimizerIntact() {
        try (VisionLanguageModel m = VlmLoader.load(TestFixtures.dir("llava"))) {
            PeftStage stage = TestFixtures.stage(m, FreezeMask.stage1(), AdamW.Config.defaults(0), 1.0);
            List<MicroBatch> b = batches(m, "llava");
            stage.step(b, 1e-3);
            String poisoned = stage.trainable().get(0);
            INDArray w = m.graph().sameDiff().getVariable(poisoned).getArr();
            float kept = w.getFloat(0L);
            w.putScalar(0L, Float.NaN);
            Map<String, float[]> before = new HashMap<>();
            for (String n : stage.parameters()) before.put(n, m.graph().sameDiff().getVariable(n).getArr().dup().data().asFloat());

            PeftStage.StepResult r = stage.step(b, 1e-3);
            assertTrue(r.skipped() && Double.isNaN(r.gradNorm()), r.toString());
            assertEquals(stage.trainable(), r.nonFinite(), "a NaN weight makes every trainable gradient NaN");
            for (String n : stage.parameters()) {
                assertTrue(java.util.Arrays.equals(before.get(n), m.graph().sameDiff().getVariable(n).getArr().data().asFloat()), n + " changed");
            }

            // With the weight repaired the next update applies: AdamW's moments took no NaN from the skipped one.
            w.putScalar(0L, kept);
            PeftStage.StepResult next = stage.step(b, 1e-3);
            assertFalse(next.skipped(), next.toString());
            for (String n : stage.trainable()) {
                INDArray now = m.graph().sameDiff().getVariable(n).getArr();
                assertTrue(Double.isFinite(now.norm2Number().doubleValue()), n + " holds a non-finite value");
                assertFalse(java.util.Arrays.equals(before.get(n), now.data().asFloat()), n + " did not change");
            }
        }
    }

    @Test
    void lossFallsOnRepeatedSamples() {
        try (VisionLanguageModel m = VlmLoader.load(TestFixtures.dir("llava"))) {
            PeftStage stage = TestFixtures.stage(m, FreezeMask.stage1(), AdamW.Config.defaults(0), 1.0);
            List<MicroBatch> b = batches(m, "llava");
            List<Double> losses = new ArrayList<>();
            for (int s = 0; s < 30; s++) losses.add(stage.step(b, 1e-2).loss());
            double first = losses.get(0);
            double last = stage.loss(b);
            // Only q/k train (stage 1) on a random tiny model: the loss falls steadily, by ~1 nat in 30 steps.
            assertTrue(last < first - 0.5, "loss " + first + " -> " + last + ": " + losses);
            for (int w = 5; w < 30; w += 5) {
                double prev = losses.subList(w - 5, w).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
                double next = losses.subList(w, w + 5).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
                assertTrue(next < prev, "5-step mean rose at step " + w + ": " + losses);
            }
        }
    }
}
