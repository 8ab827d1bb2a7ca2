package org.mha2mla.layers.llava;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.MultimodalInput;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Parity with transformers on the llava_next fixture (GQA 8/2 heads, rope_theta 500000, anyres 2×2 + base). */
class LlavaNextModelTest {

    static LlavaNextModel model;
    static SafeTensorsFile golden;

    @BeforeAll
    static void load() {
        model = (LlavaNextModel) VlmLoader.load(Fixtures.dir("llava_next"));
        golden = Fixtures.golden("llava_next");
    }

    @AfterAll
    static void close() {
        golden.close();
    }

    static int[][] imageSizes() {
        long[] hw = golden.readLongs("c0.image_sizes");
        return new int[][]{{(int) hw[0], (int) hw[1]}};
    }

    static MultimodalInput c0() {
        // The processor's [1, 5, 3, 56, 56]; the model takes the first num_patches tiles per image.
        return new MultimodalInput(golden.readLongs("c0.input_ids"), golden.readFloat32("c0.pixel_values"), imageSizes(), null);
    }

    static MultimodalInput c1() {
        return MultimodalInput.text(golden.readLongs("c1.input_ids"));
    }

    @Test
    void packedImageFeaturesMatchGolden() {
        INDArray f = model.imageFeatures(golden.readFloat32("c0.pixel_values"), imageSizes());
        // [83, 150] → pinpoint 112×112 = 2×2 tiles of 4×4 → 8×8 grid unpadded to 4×8, + newline: 16 + 4·9 = 52
        assertArrayEquals(new long[]{52, 64}, f.shape());
        double err = Fixtures.maxAbsDiff(f, golden.readFloat32("c0.image_features"));
        System.out.printf("llava_next c0 image_features max abs err %.3e%n", err);
        assertTrue(err <= 1e-4, "image_features max abs err " + err);
    }

    @Test
    void layerwiseTileFeaturesEqualTheWholeTowerGraph() {
        INDArray tiles = golden.readFloat32("c0.pixel_values").reshape(5, 3, 56, 56);
        INDArray expected = LlavaModelTest.wholeGraphProjectedFeatures(model, tiles);
        double err = Fixtures.maxAbsDiff(model.projectedFeatures(tiles), expected);
        System.out.printf("llava_next layerwise vs whole vision graph, 5 tiles: max abs %.3e (max |whole| %.3e)%n", err,
                expected.amaxNumber().doubleValue());
        assertTrue(err <= 1e-6, "max abs " + err);
    }

    @Test
    void flatTilesGiveTheSameFeaturesAsTheProcessorsPaddedBatch() {
        INDArray padded = golden.readFloat32("c0.pixel_values");
        INDArray flat = padded.reshape(5, 3, 56, 56);
        assertEquals(0.0, Fixtures.maxAbsDiff(model.imageFeatures(flat, imageSizes()), model.imageFeatures(padded, imageSizes())));
    }

    @Test
    void logitsMatchGoldenForImageAndTextCases() {
        double e0 = Fixtures.maxAbsDiff(model.logits(c0()), golden.readFloat32("c0.logits"));
        double e1 = Fixtures.maxAbsDiff(model.logits(c1()), golden.readFloat32("c1.logits"));
        System.out.printf("llava_next logits max abs err c0 %.3e c1 %.3e%n", e0, e1);
        assertTrue(e0 <= 1e-4, "c0 logits max abs err " + e0);
        assertTrue(e1 <= 1e-4, "c1 logits max abs err " + e1);
    }

    @Test
    void hiddenStatesMatchGolden() {
        INDArray h = model.hiddenStates(c0());
        double err = Fixtures.maxAbsDiff(h, golden.readFloat32("c0.hidden_states"));
        System.out.printf("llava_next c0 hidden_states max abs err %.3e%n", err);
        assertTrue(err <= 1e-4, "hidden_states max abs err " + err);
    }

    @Test
    void greedyGenerationWithCacheMatchesGolden() {
        assertArrayEquals(golden.readLongs("c0.generated_ids"), model.generate(c0(), 8, true));
        assertArrayEquals(golden.readLongs("c1.generated_ids"), model.generate(c1(), 8, true));
    }

    @Test
    void kvCacheBytesPerTokenCountsKvHeadsNotQueryHeads() {
        // 3 layers · (k + v) · 2 KV heads · 8 dims · 4 bytes
        assertEquals(3L * 2 * 2 * 8 * 4, model.kvCacheBytesPerToken());
    }
}
