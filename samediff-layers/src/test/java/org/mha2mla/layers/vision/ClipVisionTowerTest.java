package org.mha2mla.layers.vision;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.text.Params;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** The CLIP tower of the llava fixture (its end-to-end parity is in LlavaModelTest's image_features). */
class ClipVisionTowerTest {

    static final String PREFIX = "vision_tower.vision_model.";

    static SameDiff weights(LlavaConfig config) {
        try (TensorSource w = Checkpoint.open(Fixtures.dir("llava"))) {
            return Params.load(KeyLayout.canonical(w, config.modelType()));
        }
    }

    static LlavaConfig config() {
        return (LlavaConfig) HfConfigParser.read(Fixtures.dir("llava"));
    }

    @Test
    void patchMatmulEqualsTheStrideP_Convolution() {
        LlavaConfig cfg = config();
        SameDiff sd = weights(cfg);
        new ClipVisionTower(sd, cfg.visionConfig(), PREFIX, -2, "default");
        INDArray pixels = Nd4j.randn(DataType.FLOAT, 2, 3, 56, 56);
        INDArray got = sd.output(Map.of(ClipVisionTower.PIXEL_VALUES, pixels), "vision/patch_embeds").get("vision/patch_embeds");
        INDArray conv = sd.getVariable(PREFIX + "embeddings.patch_embedding.weight").getArr(); // [48, 3, 14, 14]
        double err = 0;
        for (int n = 0; n < 2; n++) {
            for (int gy = 0; gy < 4; gy++) {
                for (int gx = 0; gx < 4; gx++) {
                    for (int o = 0; o < 48; o += 7) {
                        double s = 0;
                        for (int c = 0; c < 3; c++)
                            for (int y = 0; y < 14; y++)
                                for (int x = 0; x < 14; x++)
                                    s += conv.getDouble(o, c, y, x) * pixels.getDouble(n, c, gy * 14 + y, gx * 14 + x);
                        // flatten(2): patch index = row · 4 + column
                        err = Math.max(err, Math.abs(s - got.getDouble(n, gy * 4 + gx, o)));
                    }
                }
            }
        }
        assertTrue(err < 1e-4, "patch embedding vs direct convolution " + err);
    }

    @Test
    void imagesInABatchDoNotInfluenceEachOther() {
        LlavaConfig cfg = config();
        SameDiff sd = weights(cfg);
        ClipVisionTower tower = new ClipVisionTower(sd, cfg.visionConfig(), PREFIX, -2, "default");
        INDArray batch = Nd4j.randn(DataType.FLOAT, 3, 3, 56, 56);
        INDArray all = tower.features(batch).dup();
        assertArrayEquals(new long[]{3, 16, 48}, all.shape()); // 4×4 patches, CLS dropped
        for (int i = 0; i < 3; i++) {
            INDArray alone = tower.features(batch.get(NDArrayIndex.interval(i, i + 1)).dup());
            assertTrue(all.slice(i).sub(alone.slice(0)).amaxNumber().doubleValue() < 1e-5, "image " + i);
        }
    }

    @Test
    void fullStrategyKeepsClsInFront() {
        LlavaConfig cfg = config();
        INDArray pixels = Nd4j.randn(DataType.FLOAT, 1, 3, 56, 56);
        INDArray dflt = new ClipVisionTower(weights(cfg), cfg.visionConfig(), PREFIX, -2, "default").features(pixels).dup();
        INDArray full = new ClipVisionTower(weights(cfg), cfg.visionConfig(), PREFIX, -2, "full").features(pixels).dup();
        assertArrayEquals(new long[]{1, 17, 48}, full.shape());
        assertTrue(full.get(NDArrayIndex.all(), NDArrayIndex.interval(1, 17), NDArrayIndex.all()).sub(dflt).amaxNumber().doubleValue() < 1e-6);
    }
}
