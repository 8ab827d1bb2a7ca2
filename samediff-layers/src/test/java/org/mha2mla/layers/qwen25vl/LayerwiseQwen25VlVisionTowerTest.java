package org.mha2mla.layers.qwen25vl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.Qwen25VlVisionConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.BlockRunner;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.Params;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The block-at-a-time tower (weights mapped from the fixture's bf16 file, attention per window) against the
 * whole-tower graph (float32 variables, masked n×n attention) and against transformers' golden features, on the
 * fixture grid (windows of 4, 4, 2, … units: padded groups) and on grids the fixture does not cover: several images
 * of different sizes (full attention in several groups), two temporal slices, a grid that is a window multiple.
 */
class LayerwiseQwen25VlVisionTowerTest {

    static Qwen25VlConfig config;
    static TensorSource weights;
    static SameDiff whole;
    static Qwen25VlVisionTower reference;

    @BeforeAll
    static void load() {
        config = (Qwen25VlConfig) HfConfigParser.read(Fixtures.dir("qwen2_5_vl"));
        weights = KeyLayout.canonical(Checkpoint.open(Fixtures.dir("qwen2_5_vl")), config.modelType());
        whole = Params.load(TensorSource.subset(weights, k -> k.startsWith("visual.")));
        reference = new Qwen25VlVisionTower(whole, config.visionConfig(), "visual.", "vision");
    }

    @AfterAll
    static void close() {
        weights.close();
    }

    @Test
    void equalsTheWholeTowerGraphOnManyGridsWithEitherResidency() {
        int[][][] grids = {
                {{1, 8, 10}},                        // the fixture's grid: windows of 4, 4, 2, 4, 4, 2 units
                {{1, 8, 8}},                         // a window multiple: every window 2×2 units
                {{1, 8, 8}, {1, 2, 6}, {1, 10, 4}},  // three images: three full-attention groups of 64, 12, 40 patches
                {{2, 6, 10}},                        // two temporal slices: two full-attention groups
        };
        Nd4j.getRandom().setSeed(7);
        for (LayerwiseDecoder.Residency residency : LayerwiseDecoder.Residency.values()) {
            try (BlockRunner runner = new BlockRunner(weights, residency)) {
                LayerwiseQwen25VlVisionTower tower = new LayerwiseQwen25VlVisionTower(runner, config.visionConfig(), "visual.");
                for (int[][] grid : grids) {
                    INDArray pixels = Nd4j.randn(DataType.FLOAT, Qwen25VlVisionTower.numPatches(grid), config.visionConfig().patchVolume());
                    INDArray expected = reference.forward(pixels, grid);
                    INDArray actual = tower.forward(pixels, grid);
                    assertArrayEquals(expected.shape(), actual.shape());
                    double err = Fixtures.maxAbsDiff(actual, expected);
                    System.out.printf("layerwise vs whole Qwen2.5-VL tower %s %s: max abs %.3e (max |whole| %.3e)%n",
                            residency, Arrays.deepToString(grid), err, expected.amaxNumber().doubleValue());
                    assertTrue(err <= 1e-6, residency + " " + Arrays.deepToString(grid) + ": max abs " + err);
                }
            }
        }
    }

    @Test
    void matchesTheGoldenFeaturesOfTheFixture() {
        try (BlockRunner runner = new BlockRunner(weights, LayerwiseDecoder.Residency.RELEASE);
             Checkpoint golden = Checkpoint.open(Fixtures.dir("qwen2_5_vl").resolve("golden.safetensors"))) {
            long[] g = golden.getLongs("c0.image_grid_thw");
            int[][] grid = {{(int) g[0], (int) g[1], (int) g[2]}};
            INDArray expected = Qwen25VlVisionTowerTest.imageRowsOfEmbeddings(golden, "c0", config.imageTokenId());
            INDArray actual = new LayerwiseQwen25VlVisionTower(runner, config.visionConfig(), "visual.")
                    .forward(golden.get("c0.pixel_values"), grid);
            double err = Fixtures.maxAbsDiff(actual, expected);
            System.out.printf("layerwise Qwen2.5-VL vision tower vs golden: max abs %.3e%n", err);
            assertTrue(err <= 1e-4, "max abs " + err);
        }
    }

    @Test
    void groupsGatherEachWindowIntoAPaddedRowAndBack() {
        // Groups [0, 3), [3, 4), [4, 8): padded to 4 positions each; padding repeats the group's first row, masked.
        INDArray cos = Nd4j.arange(8).castTo(DataType.FLOAT).reshape(8, 1);
        LayerwiseQwen25VlVisionTower.Groups g = LayerwiseQwen25VlVisionTower.Groups.of(new int[] {0, 3, 4, 8}, cos, cos);
        assertEquals(3, g.groups());
        assertEquals(4, g.length());
        assertArrayEquals(new int[] {0, 1, 2, 0, 3, 3, 3, 3, 4, 5, 6, 7}, g.groupRows().toIntVector());
        assertArrayEquals(new int[] {0, 1, 2, 4, 8, 9, 10, 11}, g.rowPositions().toIntVector());
        float m = AttentionMask.MASKED;
        assertArrayEquals(new float[] {0, 0, 0, m, 0, m, m, m, 0, 0, 0, 0}, g.keyMask().data().asFloat());
        assertArrayEquals(new long[] {3, 1, 4, 1}, g.cos().shape());
        assertArrayEquals(new float[] {0, 1, 2, 0, 3, 3, 3, 3, 4, 5, 6, 7}, g.cos().data().asFloat());
    }

    @Test
    void everyBlockKindMattersSoTheComparisonCanFail() {
        // All-windowed and all-full towers differ from the real one by 100× the 1e-6 of the comparison above or more.
        Qwen25VlVisionConfig v = config.visionConfig();
        int[][] grid = {{1, 8, 10}};
        INDArray pixels = Nd4j.randn(DataType.FLOAT, 80, v.patchVolume());
        INDArray expected = reference.forward(pixels, grid);
        try (BlockRunner runner = new BlockRunner(weights, LayerwiseDecoder.Residency.KEEP)) {
            for (List<Integer> fullatt : List.of(List.<Integer>of(), List.of(0, 1, 2, 3))) {
                INDArray other = new LayerwiseQwen25VlVisionTower(runner, Qwen25VlVisionTowerTest.withFullAttention(v, fullatt), "visual.")
                        .forward(pixels, grid);
                double diff = Fixtures.maxAbsDiff(other, expected);
                System.out.printf("fullatt_block_indexes %s instead of %s: max abs %.3e%n", fullatt, v.fullattBlockIndexes(), diff);
                assertTrue(diff > 1e-4, "fullatt " + fullatt + ": " + diff);
            }
        }
    }

    @Test
    void releasedWeightsAreReopenedOnTheNextImage() {
        try (BlockRunner runner = new BlockRunner(weights, LayerwiseDecoder.Residency.RELEASE)) {
            LayerwiseQwen25VlVisionTower tower = new LayerwiseQwen25VlVisionTower(runner, config.visionConfig(), "visual.");
            int[][] grid = {{1, 4, 4}};
            INDArray pixels = Nd4j.randn(DataType.FLOAT, 16, config.visionConfig().patchVolume());
            INDArray first = tower.forward(pixels, grid).dup();
            runner.close();
            assertEquals(0.0, Fixtures.maxAbsDiff(tower.forward(pixels, grid), first));
        }
    }

    @Test
    void wrongPixelShapeNamesTheTensor() {
        try (BlockRunner runner = new BlockRunner(weights, LayerwiseDecoder.Residency.KEEP)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    new LayerwiseQwen25VlVisionTower(runner, config.visionConfig(), "visual.")
                            .forward(Nd4j.zeros(DataType.FLOAT, 80, 1176), new int[][] {{1, 8, 8}}));
            assertTrue(e.getMessage().contains("pixel_values") && e.getMessage().contains("[64, 1176]"), e.getMessage());
        }
    }
}
