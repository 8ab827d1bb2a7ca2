package org.mha2mla.layers.qwen25vl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.Qwen25VlVisionConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.Params;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.mha2mla.fixtures.Fixtures;

/**
 * Parity of the vision tower with transformers 5.17 on the tiny Qwen2.5-VL fixture (grid [1, 8, 10]: 80 patches,
 * 20 merged units in a 4×5 grid, 2×2-unit windows, full attention in blocks 1 and 3), plus the index bookkeeping
 * on grids the fixture does not cover (several images, video-like t = 2, grids that are window multiples).
 */
class Qwen25VlVisionTowerTest {

    static Path dir;
    static Qwen25VlConfig config;
    static Checkpoint weights;
    static SameDiff sd;
    static Qwen25VlVisionTower tower;
    static Checkpoint golden;
    static INDArray pixels;
    static int[][] grid;
    static INDArray expected;

    @BeforeAll
    static void load() throws Exception {
        dir = Fixtures.hf("qwen2_5_vl");
        config = (Qwen25VlConfig) HfConfigParser.read(dir);
        weights = Checkpoint.open(dir);
        sd = Params.load(weights);
        tower = new Qwen25VlVisionTower(sd, config.visionConfig(), "visual.", "vision");
        golden = Checkpoint.open(dir.resolve("golden.safetensors"));
        pixels = golden.get("c0.pixel_values");
        long[] g = golden.getLongs("c0.image_grid_thw");
        grid = new int[][] {{(int) g[0], (int) g[1], (int) g[2]}};
        expected = imageRowsOfEmbeddings(golden, "c0", config.imageTokenId());
    }

    @AfterAll
    static void close() {
        weights.close();
        golden.close();
    }

    /** golden hidden_states[0] (embedding output) at the image-token positions = the tower's output, in order. */
    static INDArray imageRowsOfEmbeddings(Checkpoint golden, String c, int imageTokenId) {
        long[] ids = golden.getLongs(c + ".input_ids");
        INDArray emb = golden.get(c + ".hidden_states").get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.all());
        List<Long> rows = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) if (ids[i] == imageTokenId) rows.add((long) i);
        return Nd4j.pullRows(emb, 1, rows.stream().mapToInt(Long::intValue).toArray());
    }

    static Qwen25VlVisionConfig withFullAttention(Qwen25VlVisionConfig v, List<Integer> fullatt) {
        return new Qwen25VlVisionConfig(v.depth(), v.hiddenSize(), v.hiddenAct(), v.intermediateSize(), v.numHeads(),
                v.inChannels(), v.patchSize(), v.spatialMergeSize(), v.temporalPatchSize(), v.tokensPerSecond(),
                v.windowSize(), v.outHiddenSize(), fullatt);
    }

    static double maxAbs(INDArray a, INDArray b) {
        return a.sub(b).amax().getDouble(0);
    }

    @Test
    void imageFeaturesMatchGoldenEmbeddingsAtImageTokens() {
        INDArray out = tower.forward(pixels, grid);
        assertArrayEquals(new long[] {20, 64}, out.shape());
        assertArrayEquals(expected.shape(), out.shape());
        double err = maxAbs(out, expected);
        System.out.printf("Qwen2.5-VL vision tower vs golden: max abs %.3e (max |golden| %.3e)%n",
                err, expected.amax().getDouble(0));
        assertTrue(err <= 1e-4, "vision tower max abs error " + err);
    }

    @Test
    void fullAttentionBlocksAndWindowsBothMatterOnTheFixtureGrid() {
        // The fixture grid spans 6 windows, so making every block windowed (or every block full) must change the
        // output well beyond the parity tolerance; otherwise the test above could not tell them apart.
        Qwen25VlVisionConfig v = config.visionConfig();
        // Both variants share the graph's weights under their own scopes.
        INDArray allWindowed = new Qwen25VlVisionTower(sd, withFullAttention(v, List.of()), "visual.", "vision_windowed")
                .forward(pixels, grid);
        INDArray allFull = new Qwen25VlVisionTower(sd, withFullAttention(v, List.of(0, 1, 2, 3)), "visual.", "vision_full")
                .forward(pixels, grid);
        double windowedErr = maxAbs(allWindowed, expected);
        double fullErr = maxAbs(allFull, expected);
        System.out.printf("all blocks windowed: max abs %.3e; all blocks full: max abs %.3e%n", windowedErr, fullErr);
        assertTrue(windowedErr > 1e-3, "all-windowed output is within " + windowedErr + " of golden");
        assertTrue(fullErr > 1e-3, "all-full output is within " + fullErr + " of golden");
    }

    @Test
    void windowIndexOfTheFixtureGrid() {
        // 8×10 patches → 4×5 merged units, windows of 56 / 2 / 14 = 2×2 units, row-major over a 2×3 window grid
        // (the last column is one unit wide), units numbered row-major 0..19.
        Qwen25VlVisionTower.WindowIndex w = Qwen25VlVisionTower.windowIndex(grid, config.visionConfig());
        assertArrayEquals(new int[] {0, 1, 5, 6, 2, 3, 7, 8, 4, 9, 10, 11, 15, 16, 12, 13, 17, 18, 14, 19}, w.index());
        // Windows of 4, 4, 2, 4, 4, 2 units × 4 patches each; transformers' empty padded windows leave no boundary.
        assertArrayEquals(new int[] {0, 16, 32, 40, 56, 72, 80}, w.cuWindowSeqlens());
        assertArrayEquals(new int[] {0, 80}, Qwen25VlVisionTower.cuSeqlens(grid));
    }

    @Test
    void windowReorderThenReverseIsTheIdentityOnManyGrids() {
        Qwen25VlVisionConfig v = config.visionConfig();
        int[][][] grids = {
                {{1, 8, 10}},
                {{1, 4, 4}},                      // exactly one window: transformers still pads a full empty window
                {{1, 8, 8}, {1, 2, 6}, {1, 10, 4}},
                {{2, 6, 10}},                     // two temporal slices: windows never cross slices
        };
        for (int[][] g : grids) {
            Qwen25VlVisionTower.WindowIndex w = Qwen25VlVisionTower.windowIndex(g, v);
            int units = Qwen25VlVisionTower.numPatches(g) / 4;
            int[] sorted = w.index().clone();
            Arrays.sort(sorted);
            int[] identity = new int[units];
            Arrays.setAll(identity, i -> i);
            assertArrayEquals(identity, sorted, "window index is not a permutation for " + Arrays.deepToString(g));
            int[] reverse = Qwen25VlVisionTower.argsort(w.index());
            int[] roundTrip = new int[units];
            for (int i = 0; i < units; i++) roundTrip[i] = w.index()[reverse[i]];
            assertArrayEquals(identity, roundTrip);

            // Each window holds units of one image and one temporal slice only, and at most 2×2 of them.
            int[] cu = w.cuWindowSeqlens();
            int[] full = Qwen25VlVisionTower.cuSeqlens(g);
            assertEquals(units * 4, cu[cu.length - 1]);
            for (int b = 0; b + 1 < cu.length; b++) {
                assertTrue(cu[b + 1] > cu[b] && cu[b + 1] - cu[b] <= 16);
                int first = cu[b], last = cu[b + 1] - 1;
                assertEquals(segmentOf(full, first), segmentOf(full, last), "window crosses an image/slice boundary");
                // Its units, mapped back to processor order, fall in the same segment too.
                assertEquals(segmentOf(full, w.index()[first / 4] * 4), segmentOf(full, w.index()[last / 4] * 4));
            }
        }
    }

    private static int segmentOf(int[] cu, int patch) {
        for (int s = 0; s + 1 < cu.length; s++) if (patch >= cu[s] && patch < cu[s + 1]) return s;
        throw new AssertionError("patch " + patch + " outside " + Arrays.toString(cu));
    }

    @Test
    void placeholderPermutationsAreTheWindowIndexAndItsInverse() {
        // The graph reorders with 0/1 matrices (no gather): order·x puts unit index[k] at row k, reverse·order = I.
        Map<String, INDArray> ph = tower.placeholders(pixels, grid);
        INDArray order = ph.get(tower.name(Qwen25VlVisionTower.IN_WINDOW_ORDER));
        INDArray reverse = ph.get(tower.name(Qwen25VlVisionTower.IN_REVERSE));
        assertArrayEquals(new long[] {1, 20, 20}, order.shape());
        int[] index = Qwen25VlVisionTower.windowIndex(grid, config.visionConfig()).index();
        INDArray units = Nd4j.arange(20).castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).reshape(20, 1);
        INDArray moved = order.slice(0).mmul(units);
        for (int k = 0; k < 20; k++) assertEquals(index[k], moved.getFloat(k, 0), "window position " + k);
        assertEquals(0.0, maxAbs(reverse.slice(0).mmul(order.slice(0)), Nd4j.eye(20).castTo(order.dataType())));
    }

    @Test
    void aBatchOfImagesEqualsEachImageAlone() {
        // Pretraining feeds B images of one grid as batch rows; each row must be the image's own features.
        INDArray shifted = pixels.add(0.25);
        INDArray batch = Nd4j.stack(0, pixels, shifted);                               // [2, 80, 1176]
        String out = tower.name(Qwen25VlVisionTower.OUT_IMAGE_EMBEDS);
        INDArray both = sd.output(tower.batchPlaceholders(batch, grid[0]), out).get(out);   // [40, 64]
        assertArrayEquals(new long[] {40, 64}, both.shape());
        double first = maxAbs(both.get(NDArrayIndex.interval(0, 20), NDArrayIndex.all()), expected);
        double second = maxAbs(both.get(NDArrayIndex.interval(20, 40), NDArrayIndex.all()), tower.forward(shifted, grid));
        System.out.printf("batched tower: row 0 vs golden %.3e, row 1 vs alone %.3e%n", first, second);
        assertTrue(first <= 1e-4 && second <= 1e-5, first + ", " + second);
    }

    @Test
    void rotaryAnglesFollowTheProcessorsPatchOrder() {
        // Second derivation: decode each processor row index r as (t, h/2, w/2, 2, 2) digits (the order the Qwen2-VL
        // image processor flattens patches in), and rebuild the angle h·θ_j, w·θ_j with θ_j = 10000^(−j/(d/4))
        // (d = head_dim 16: θ = 1, 0.1, 0.01, 0.001).
        Qwen25VlVisionConfig v = config.visionConfig();
        int[][] g = {{2, 4, 6}, {1, 8, 10}};
        float[][] a = Qwen25VlVisionTower.rotaryAngles(g, v);
        int nFreq = v.headDim() / 4;
        int r = 0;
        for (int[] img : g) {
            int hb = img[1] / 2, wb = img[2] / 2;
            for (int k = 0; k < img[0] * img[1] * img[2]; k++, r++) {
                int iw = k % 2, ih = (k / 2) % 2, bw = (k / 4) % wb, bh = (k / (4 * wb)) % hb;
                int h = bh * 2 + ih, w = bw * 2 + iw;
                for (int j = 0; j < nFreq; j++) {
                    double theta = Math.pow(10000.0, -(double) j / nFreq);
                    assertEquals(h * theta, a[r][j], 1e-6 * Math.max(1, h), "h angle, row " + r + " freq " + j);
                    assertEquals(w * theta, a[r][nFreq + j], 1e-6 * Math.max(1, w), "w angle, row " + r + " freq " + j);
                }
            }
        }
        assertEquals(r, a.length);
    }

    @Test
    void blockMaskAllowsExactlyTheWindows() {
        INDArray m = Qwen25VlVisionTower.blockMask(new int[] {0, 2, 5}, 5);
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 5; j++) {
                boolean same = (i < 2) == (j < 2);
                assertEquals(same ? 0f : AttentionMask.MASKED, m.getFloat(i, j), "mask[" + i + "][" + j + "]");
            }
        }
    }

    @Test
    void wrongPixelShapeNamesTheTensor() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tower.forward(pixels, new int[][] {{1, 8, 8}}));
        assertTrue(e.getMessage().contains("pixel_values") && e.getMessage().contains("[64, 1176]"), e.getMessage());
    }
}
