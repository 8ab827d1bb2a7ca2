package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The layer-by-layer source against the whole graph (a second implementation of the same gradient: one SameDiff
 * backward pass over every layer, the lm_head and SameDiff's cross-entropy): loss and every trainable gradient of a
 * step, stage 1 on partial-RoPE models (Qwen2.5-VL with M-RoPE and q/k/v biases, LLaVA), stage 2 on the MLA model, with
 * an image, text only, and both padded into one micro-batch, two micro-batches accumulated.
 */
class LayerwiseGradientsTest {

    /** The Qwen fixture's image prompt (47 tokens) and text prompt (22) with 8 and 6 labelled tokens. */
    private static List<List<TrainingExample>> microBatches(String fixture) {
        TrainingExample image = GoldenExamples.example(fixture, "c0", 8);
        TrainingExample text = GoldenExamples.example(fixture, "c1", 6);
        return List.of(List.of(image, text), List.of(text), List.of(image));
    }

    private static VisionLanguageModel converted(String fixture, Mha2MlaConverter.Options options) {
        List<MultimodalInput> calibration = List.of(GoldenExamples.example(fixture, "c0", 8).input(),
                GoldenExamples.example(fixture, "c1", 6).input());
        VisionLanguageModel original = VlmLoader.load(TestFixtures.dir(fixture));
        return Mha2MlaConverter.convert(original, calibration, options).model();
    }

    /**
     * Each source's step gradient (three micro-batches accumulated, token mean) and its per-batch losses; asserts
     * they agree within 1e-5 relative and returns the largest relative difference of a tensor.
     */
    private static double compare(VisionLanguageModel model, FreezeMask mask, String what) {
        return compare(model, mask, LayerwiseGradients.QUERY_BLOCK_BYTES, what);
    }

    /** Like {@link #compare(VisionLanguageModel, FreezeMask, String)} with query blocks of {@code queryBlockBytes}. */
    private static double compare(VisionLanguageModel model, FreezeMask mask, long queryBlockBytes, String what) {
        Map<String, INDArray> expected = new HashMap<>();
        double expectedLoss;
        double[] expectedBatchLosses = new double[3];
        try (WholeGraphGradients graph = WholeGraphGradients.decoder(model, mask)) {
            PeftStage stage = new PeftStage(graph, mask, AdamW.Config.defaults(0), 0);
            List<GradientSource.Batch> b = microBatches(fixtureOf(model)).stream().map(stage::batch).toList();
            expectedLoss = stage.accumulateGradients(b);
            stage.gradients().forEach((n, g) -> expected.put(n, g.dup()));
            for (int i = 0; i < 3; i++) expectedBatchLosses[i] = stage.loss(List.of(b.get(i)));
        }
        try (LayerwiseGradients layers = new LayerwiseGradients(model, mask, queryBlockBytes)) {
            PeftStage stage = new PeftStage(layers, mask, AdamW.Config.defaults(0), 0);
            List<GradientSource.Batch> b = microBatches(fixtureOf(model)).stream().map(stage::batch).toList();
            double loss = stage.accumulateGradients(b);
            assertEquals(expected.keySet(), stage.gradients().keySet());
            double total = 0;
            double totalDiff = 0;
            double worst = 0;
            String worstName = null;
            for (Map.Entry<String, INDArray> e : expected.entrySet()) {
                INDArray g = e.getValue();
                double norm = g.norm2Number().doubleValue();
                double diff = stage.gradients().get(e.getKey()).sub(g).norm2Number().doubleValue();
                total += norm * norm;
                totalDiff += diff * diff;
                // Gradients that are zero up to rounding (a key bias, which softmax cancels) are held to the global scale.
                if (norm > 1e-6 && diff / norm > worst) {
                    worst = diff / norm;
                    worstName = e.getKey();
                }
            }
            double global = Math.sqrt(totalDiff / total);
            System.out.printf("%s: loss %.8f whole graph, %.8f layer by layer; gradient relative difference %.2e overall, "
                    + "largest %.2e (%s), %d tensors%n", what, expectedLoss, loss, global, worst, worstName, expected.size());
            assertEquals(expectedLoss, loss, 1e-5 * Math.abs(expectedLoss), what + " loss");
            for (int i = 0; i < 3; i++) {
                assertEquals(expectedBatchLosses[i], stage.loss(List.of(b.get(i))), 1e-5 * expectedBatchLosses[i], what + " loss of batch " + i);
            }
            assertTrue(global <= 1e-5, what + ": overall relative difference " + global);
            assertTrue(worst <= 1e-5, what + ": " + worstName + " differs by " + worst + " relative");
            for (Map.Entry<String, INDArray> e : expected.entrySet()) {
                double norm = e.getValue().norm2Number().doubleValue();
                if (norm <= 1e-6) {
                    double diff = stage.gradients().get(e.getKey()).sub(e.getValue()).norm2Number().doubleValue();
                    assertTrue(diff <= 1e-5 * Math.sqrt(total), what + ": " + e.getKey() + " differs by " + diff);
                }
            }
            return worst;
        }
    }

    private static String fixtureOf(VisionLanguageModel model) {
        return model.config().modelType();
    }

    @Test
    void stage1OnPartialRopeQwenEqualsTheWholeGraph() {
        try (VisionLanguageModel m = converted("qwen2_5_vl", Mha2MlaConverter.Options.defaults(4).with(Mha2MlaConfig.Step.ROPE))) {
            compare(m, FreezeMask.stage1(), "qwen2_5_vl partial RoPE, stage 1");
        }
    }

    @Test
    void stage1OnPartialRopeLlavaEqualsTheWholeGraph() {
        try (VisionLanguageModel m = converted("llava", Mha2MlaConverter.Options.defaults(4).with(Mha2MlaConfig.Step.ROPE))) {
            compare(m, FreezeMask.stage1(), "llava partial RoPE, stage 1");
        }
    }

    @Test
    void stage2OnMlaQwenEqualsTheWholeGraph() {
        try (VisionLanguageModel m = converted("qwen2_5_vl", Mha2MlaConverter.Options.defaults(4))) {
            compare(m, FreezeMask.stage2(), "qwen2_5_vl MLA (MD-SVD d_kv 4), stage 2");
        }
    }

    /**
     * Query blocks of 10 rows of the 47-token image prompt (the text prompt alone: 21 and 1 rows; both padded into one
     * micro-batch: 5 rows): stage 2 on MLA with decoupled factors, and stage 1 with partial RoPE and M-RoPE.
     */
    @Test
    void queryBlocksGiveTheWholeGraphsGradients() {
        try (VisionLanguageModel m = converted("qwen2_5_vl", Mha2MlaConverter.Options.defaults(4))) {
            compare(m, FreezeMask.stage2(), rowsOf(m, 10), "qwen2_5_vl MLA, stage 2, query blocks of 10 rows");
        }
        try (VisionLanguageModel m = converted("qwen2_5_vl", Mha2MlaConverter.Options.defaults(4).with(Mha2MlaConfig.Step.ROPE))) {
            compare(m, FreezeMask.stage1(), rowsOf(m, 10), "qwen2_5_vl partial RoPE, stage 1, query blocks of 10 rows");
        }
    }

    /** Block bytes that make {@code rows} query rows of one example of the image prompt's length (47). */
    private static long rowsOf(VisionLanguageModel m, int rows) {
        long bytes = 4L * m.config().textConfig().numAttentionHeads() * 47 * rows;
        assertEquals(rows, LayerwiseDecoder.queryRows(1, m.config().textConfig().numAttentionHeads(), 47, bytes));
        return bytes;
    }

    /** Frozen weights read from the mapped bf16 checkpoint (the fixture as stored), widened per layer. */
    @Test
    void stage1OnTheStoredBf16CheckpointEqualsTheWholeGraph() {
        try (VisionLanguageModel m = VlmLoader.load(TestFixtures.dir("qwen2_5_vl"))) {
            compare(m, FreezeMask.stage1(), "qwen2_5_vl as stored (bf16), stage 1");
        }
    }

    /** An update reports each layer of its forward and backward passes, in the order it runs them. */
    @Test
    void anUpdateReportsTheLayerItIsIn() {
        try (VisionLanguageModel m = VlmLoader.load(TestFixtures.dir("qwen2_5_vl"));
             LayerwiseGradients layers = new LayerwiseGradients(m, FreezeMask.stage1())) {
            PeftStage stage = new PeftStage(layers, FreezeMask.stage1(), AdamW.Config.defaults(0), 0);
            List<String> reported = new java.util.ArrayList<>();
            layers.reportProgress(reported::add);
            stage.accumulateGradients(List.of(stage.batch(List.of(GoldenExamples.example("qwen2_5_vl", "c1", 6)))));
            int n = m.config().textConfig().numHiddenLayers();
            List<String> expected = new java.util.ArrayList<>();
            for (int i = 1; i <= n; i++) expected.add("forward layer " + i + "/" + n);
            expected.add("lm_head");
            for (int i = n; i >= 1; i--) expected.add("backward layer " + i + "/" + n);
            assertEquals(expected, reported);
        }
    }

    @Test
    void aMaskOutsideTheDecoderLayersIsRefusedWithTheWayOut() {
        try (VisionLanguageModel m = VlmLoader.load(TestFixtures.dir("qwen2_5_vl"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new LayerwiseGradients(m, FreezeMask.of("head", List.of("lm_head.weight", "model.layers.0.self_attn.q_proj.weight"))));
            assertTrue(e.getMessage().contains("'lm_head.weight'") && e.getMessage().contains("--gradients graph"), e.getMessage());
        }
    }

    @Test
    void autoChoosesTheWholeGraphWhileItsFloatCopiesFitAnEighthOfTheMemory() {
        long gb = 1L << 30;
        // Qwen2.5-VL-7B's decoder (7.6 B parameters, 30 GB in float32) on 24 GB: layer by layer; the demo's 1.8 M: the graph.
        assertEquals(GradientSource.Kind.LAYERS, GradientSource.Kind.AUTO.choose(7_615_616_512L, 24 * gb, true));
        assertEquals(GradientSource.Kind.GRAPH, GradientSource.Kind.AUTO.choose(1_845_760L, 24 * gb, true));
        assertEquals(GradientSource.Kind.GRAPH, GradientSource.Kind.AUTO.choose(800_000_000L, 24 * gb, true));
        // a 2-layer model of 7B width: 1.56 B decoder parameters
        assertEquals(GradientSource.Kind.LAYERS, GradientSource.Kind.AUTO.choose(1_556_113_920L, 24 * gb, true));
        // A tensor outside the layers trains only in the graph; a forced kind stays.
        assertEquals(GradientSource.Kind.GRAPH, GradientSource.Kind.AUTO.choose(7_615_616_512L, 24 * gb, false));
        assertEquals(GradientSource.Kind.LAYERS, GradientSource.Kind.LAYERS.choose(1_845_760L, 24 * gb, true));
    }
}
