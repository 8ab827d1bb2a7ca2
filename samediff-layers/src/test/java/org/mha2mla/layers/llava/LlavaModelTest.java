package org.mha2mla.layers.llava;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.vision.ClipVisionTower;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Parity with transformers on the llava fixture (golden.safetensors from LlavaForConditionalGeneration). */
class LlavaModelTest {

    static LlavaModel model;
    static SafeTensorsFile golden;

    @BeforeAll
    static void load() {
        model = (LlavaModel) VlmLoader.load(Fixtures.dir("llava"));
        golden = Fixtures.golden("llava");
    }

    @AfterAll
    static void close() {
        golden.close();
    }

    static MultimodalInput c0() {
        return new MultimodalInput(golden.readLongs("c0.input_ids"), golden.readFloat32("c0.pixel_values"), null, null);
    }

    static MultimodalInput c1() {
        return MultimodalInput.text(golden.readLongs("c1.input_ids"));
    }

    @Test
    void imageFeaturesMatchGolden() {
        INDArray f = model.imageFeatures(new MultimodalInput(new long[0], golden.readFloat32("c0.pixel_values"), null, null));
        double err = Fixtures.maxAbsDiff(f, golden.readFloat32("c0.image_features"));
        System.out.printf("llava c0 image_features max abs err %.3e%n", err);
        assertTrue(err <= 1e-4, "image_features max abs err " + err);
    }

    /**
     * The reference for the model's layer-at-a-time vision path: CLIP tower and projector as one graph over float32
     * copies of their weights; projected features [N, P, d] of {@code pixels} [N, C, S, S].
     */
    static INDArray wholeGraphProjectedFeatures(LlavaModel m, INDArray pixels) {
        SameDiff sd = Params.load(TensorSource.subset(m.weights(),
                k -> k.startsWith("vision_tower.") || k.startsWith(LlavaProjector.PREFIX)));
        LlavaConfig c = m.config();
        new ClipVisionTower(sd, c.visionConfig(), LlavaModel.VISION_TOWER, c.visionFeatureLayer(), c.visionFeatureSelectStrategy());
        new LlavaProjector(sd, c).forward("expected", sd.getVariable(ClipVisionTower.FEATURES));
        return sd.output(Map.of(ClipVisionTower.PIXEL_VALUES, pixels), "expected").get("expected");
    }

    @Test
    void layerwiseImageFeaturesEqualTheWholeTowerGraph() {
        INDArray pixels = golden.readFloat32("c0.pixel_values");
        INDArray expected = wholeGraphProjectedFeatures(model, pixels);
        double err = Fixtures.maxAbsDiff(model.projectedFeatures(pixels), expected);
        System.out.printf("llava layerwise vs whole vision graph: max abs %.3e (max |whole| %.3e)%n", err, expected.amaxNumber().doubleValue());
        assertTrue(err <= 1e-6, "max abs " + err);
    }

    @Test
    void hiddenStatesMatchGoldenPerLayer() {
        for (String c : new String[]{"c0", "c1"}) {
            INDArray h = model.hiddenStates(c.equals("c0") ? c0() : c1());
            INDArray g = golden.readFloat32(c + ".hidden_states");
            assertArrayEquals(g.shape(), h.shape());
            for (int layer = 0; layer < g.size(0); layer++) {
                double err = Fixtures.maxAbsDiff(h.slice(layer), g.slice(layer));
                System.out.printf("llava %s hidden_states[%d] max abs err %.3e%n", c, layer, err);
                assertTrue(err <= 1e-4, c + " hidden_states[" + layer + "] max abs err " + err);
            }
        }
    }

    @Test
    void logitsMatchGoldenForImageAndTextCases() {
        double e0 = Fixtures.maxAbsDiff(model.logits(c0()), golden.readFloat32("c0.logits"));
        double e1 = Fixtures.maxAbsDiff(model.logits(c1()), golden.readFloat32("c1.logits"));
        System.out.printf("llava logits max abs err c0 %.3e c1 %.3e%n", e0, e1);
        assertTrue(e0 <= 1e-4, "c0 logits max abs err " + e0);
        assertTrue(e1 <= 1e-4, "c1 logits max abs err " + e1);
    }

    @Test
    void greedyGenerationWithCacheMatchesGolden() {
        // The golden runs are 8 tokens without EOS, so stopping at EOS or not gives the same ids.
        assertArrayEquals(golden.readLongs("c0.generated_ids"), model.generate(c0(), 8, true));
        assertArrayEquals(golden.readLongs("c1.generated_ids"), model.generate(c1(), 8, true));
    }

    @Test
    void imageTokenCountMustMatchFeatures() {
        long[] ids = golden.readLongs("c0.input_ids");
        long[] fewer = java.util.Arrays.copyOf(ids, ids.length);
        for (int i = 0; i < fewer.length; i++) {
            if (fewer[i] == model.config().imageTokenId()) {
                fewer[i] = 5;
                break;
            }
        }
        var input = new MultimodalInput(fewer, golden.readFloat32("c0.pixel_values"), null, null);
        var e = assertThrows(IllegalArgumentException.class, () -> model.logits(input));
        assertTrue(e.getMessage().contains("tokens: 15, features 16"), e.getMessage());
    }

    @Test
    void kvCacheBytesPerTokenIsTwoTimesLayersKvHeadsHeadDim() {
        // 3 layers · (k + v) · 4 KV heads · 16 dims · 4 bytes
        assertEquals(3L * 2 * 4 * 16 * 4, model.kvCacheBytesPerToken());
    }
}
