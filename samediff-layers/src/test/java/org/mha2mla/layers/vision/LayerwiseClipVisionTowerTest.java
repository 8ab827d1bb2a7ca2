package org.mha2mla.layers.vision;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.text.BlockRunner;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.Params;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The layer-at-a-time CLIP tower (weights mapped from the fixture's f16 / bf16 file) against the whole-tower graph
 * (float32 variables) on the llava and llava_next fixtures, for both feature-select strategies and both residencies.
 */
class LayerwiseClipVisionTowerTest {

    static final String PREFIX = "vision_tower.vision_model.";

    @ParameterizedTest
    @ValueSource(strings = {"llava", "llava_next"})
    void equalsTheWholeTowerGraphFromTheMappedFile(String fixture) {
        LlavaConfig config = (LlavaConfig) HfConfigParser.read(Fixtures.dir(fixture));
        Nd4j.getRandom().setSeed(3);
        INDArray pixels = Nd4j.randn(DataType.FLOAT, 3, 3, config.visionConfig().imageSize(), config.visionConfig().imageSize());
        try (TensorSource weights = KeyLayout.canonical(Checkpoint.open(Fixtures.dir(fixture)), config.modelType())) {
            for (String strategy : new String[]{"default", "full"}) {
                ClipVisionTower whole = new ClipVisionTower(Params.load(TensorSource.subset(weights, k -> k.startsWith("vision_tower."))),
                        config.visionConfig(), PREFIX, config.visionFeatureLayer(), strategy);
                INDArray expected = whole.features(pixels).dup();
                for (LayerwiseDecoder.Residency residency : LayerwiseDecoder.Residency.values()) {
                    try (BlockRunner runner = new BlockRunner(weights, residency)) {
                        LayerwiseClipVisionTower tower = new LayerwiseClipVisionTower(runner, config.visionConfig(), PREFIX,
                                config.visionFeatureLayer(), strategy);
                        INDArray actual = tower.features(pixels);
                        assertArrayEquals(expected.shape(), actual.shape());
                        double err = Fixtures.maxAbsDiff(actual, expected);
                        System.out.printf("%s layerwise vs whole CLIP tower (%s, %s): max abs %.3e (max |whole| %.3e)%n", fixture,
                                strategy, residency, err, expected.amaxNumber().doubleValue());
                        assertTrue(err <= 1e-6, fixture + " " + strategy + " " + residency + ": max abs " + err);
                    }
                }
            }
        }
    }

    @Test
    void runsTheLayersBeforeTheSelectedHiddenStateOnly() {
        // vision_feature_layer −2 of a 2-layer tower is hidden state 1: one encoder layer runs.
        LlavaConfig config = (LlavaConfig) HfConfigParser.read(Fixtures.dir("llava"));
        try (TensorSource weights = KeyLayout.canonical(Checkpoint.open(Fixtures.dir("llava")), config.modelType());
             BlockRunner runner = new BlockRunner(weights, LayerwiseDecoder.Residency.KEEP)) {
            int layers = config.visionConfig().numHiddenLayers();
            assertEquals(layers - 1, new LayerwiseClipVisionTower(runner, config.visionConfig(), PREFIX, -2, "default").layersRun());
            assertEquals(0, new LayerwiseClipVisionTower(runner, config.visionConfig(), PREFIX, 0, "default").layersRun());
            assertThrows(IllegalArgumentException.class,
                    () -> new LayerwiseClipVisionTower(runner, config.visionConfig(), PREFIX, layers + 1, "default"));
        }
    }

    @Test
    void wrongPixelShapeSaysWhatWasExpected() {
        LlavaConfig config = (LlavaConfig) HfConfigParser.read(Fixtures.dir("llava"));
        try (TensorSource weights = KeyLayout.canonical(Checkpoint.open(Fixtures.dir("llava")), config.modelType());
             BlockRunner runner = new BlockRunner(weights, LayerwiseDecoder.Residency.KEEP)) {
            LayerwiseClipVisionTower tower = new LayerwiseClipVisionTower(runner, config.visionConfig(), PREFIX, -2, "default");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> tower.features(Nd4j.zeros(DataType.FLOAT, 1, 3, 28, 28)));
            assertTrue(e.getMessage().contains("pixel_values must be [N, 3, 56, 56]"), e.getMessage());
        }
    }
}
