package org.mha2mla.importers.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.HfFixtures;
import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Qwen2-VL processing of the qwen2_5_vl fixture (137×101 PNG → 140×112, 10×8 patches) against transformers. */
class Qwen2VlImageProcessorTest {

    @TempDir
    Path tmp;

    private static double errorVsGolden(Resampler.Backend backend) {
        Path dir = HfFixtures.dir("qwen2_5_vl");
        Qwen2VlImageProcessor.Result r = Qwen2VlImageProcessor.load(dir, backend).preprocess(List.of(RgbImage.load(dir.resolve("image0.png"))));
        try (SafeTensorsFile g = HfFixtures.golden("qwen2_5_vl")) {
            long[] thw = g.readLongs("c0.image_grid_thw");
            assertArrayEquals(new int[]{(int) thw[0], (int) thw[1], (int) thw[2]}, r.imageGridThw()[0]);
            INDArray gold = g.readFloat32("c0.pixel_values");
            assertArrayEquals(gold.shape(), r.pixelValues().shape());
            return HfFixtures.maxAbsDiff(r.pixelValues(), gold);
        }
    }

    @Test
    void torchvisionBackendReproducesTransformersPixelValues() {
        double err = errorVsGolden(Resampler.Backend.TORCHVISION);
        System.out.printf("qwen2_5_vl pixel_values max abs err (torchvision backend) %.3e%n", err);
        assertTrue(err < 1e-5, "max abs err " + err);
    }

    @Test
    void pilBackendIsWithinOneUint8Level() {
        double err = errorVsGolden(Resampler.Backend.PIL);
        System.out.printf("qwen2_5_vl pixel_values max abs err (PIL backend) %.3e%n", err);
        assertTrue(err < 2e-2, "max abs err " + err);
    }

    @Test
    void smartResizeRoundsHalfToEvenAndKeepsThePixelBudget() {
        assertArrayEquals(new int[]{112, 140}, Qwen2VlImageProcessor.smartResize(101, 137, 28, 3136, 31360));
        // 70 / 28 = 2.5 rounds to 2 (Python's round), 42 / 28 = 1.5 to 2.
        assertArrayEquals(new int[]{56, 56}, Qwen2VlImageProcessor.smartResize(70, 42, 28, 56, 1 << 30));
        // Too many pixels: scaled by sqrt(area / max) and floored to multiples of 28.
        int[] big = Qwen2VlImageProcessor.smartResize(1000, 2000, 28, 3136, 100_000);
        assertTrue(big[0] * big[1] <= 100_000 && big[0] % 28 == 0 && big[1] % 28 == 0, java.util.Arrays.toString(big));
        assertArrayEquals(new int[]{196, 420}, big);     // beta = √20: floor(7.98)·28, floor(15.97)·28
        // Too few: scaled up and ceiled.
        assertArrayEquals(new int[]{56, 84}, Qwen2VlImageProcessor.smartResize(20, 30, 28, 3136, 1 << 30));
        assertThrows(ImageException.class, () -> Qwen2VlImageProcessor.smartResize(1, 300, 28, 56, 1000));
    }

    /** transformers' reshape + transpose written as index arithmetic on a generic 9-d array (a second implementation). */
    @Test
    void patchOrderIsTransformersReshapeAndTranspose() {
        int p = 14;
        int m = 2;
        int tp = 2;
        byte[] b = new byte[56 * 84 * 3];
        new Random(5).nextBytes(b);
        RgbImage img = new RgbImage(84, 56, b);
        Qwen2VlImageProcessor proc = new Qwen2VlImageProcessor(false, 1, 1 << 30, p, tp, m,
                new Resampler.Resampling(Resampler.Filter.BICUBIC, Resampler.Backend.PIL), new Normalization(1, new double[3],
                new double[]{1, 1, 1}));
        INDArray out = proc.preprocess(List.of(img)).pixelValues();
        int gh = 56 / p;
        int gw = 84 / p;
        assertArrayEquals(new long[]{gh * gw, 3 * tp * p * p}, out.shape());
        // source dims (grid_t, T, C, gh/m, m, P, gw/m, m, P); output dims (grid_t, gh/m, gw/m, m, m, C, T, P, P)
        int[] outDims = {1, gh / m, gw / m, m, m, 3, tp, p, p};
        int[] idx = new int[9];
        for (int flat = 0; flat < gh * gw * 3 * tp * p * p; flat += 37) {
            int r = flat;
            for (int d = 8; d >= 0; d--) {
                idx[d] = r % outDims[d];
                r /= outDims[d];
            }
            int y = (idx[1] * m + idx[3]) * p + idx[7];
            int x = (idx[2] * m + idx[4]) * p + idx[8];
            double expected = img.get(x, y, idx[5]);
            assertEquals(expected, out.getDouble(flat / (3 * tp * p * p), flat % (3 * tp * p * p)), 1e-6, "flat index " + flat);
        }
    }

    @Test
    void configWithoutPixelBudgetOrPatchSizeIsRejected() throws IOException {
        Path dir = HfFixtures.copy("qwen2_5_vl", tmp);
        Path file = dir.resolve("preprocessor_config.json");
        String json = Files.readString(file);
        Files.writeString(file, json.replace("\"shortest_edge\": 3136", "\"short\": 3136"));
        ConfigException e = assertThrows(ConfigException.class, () -> Qwen2VlImageProcessor.load(dir));
        assertTrue(e.getMessage().contains("preprocessor_config.json") && e.getMessage().contains("shortest_edge"), e.getMessage());

        Files.writeString(file, json.replace("\"patch_size\"", "\"patch\""));
        e = assertThrows(ConfigException.class, () -> Qwen2VlImageProcessor.load(dir));
        assertTrue(e.getMessage().contains("'patch_size' is missing"), e.getMessage());

        Files.writeString(file, json.replace("\"shortest_edge\": 3136", "\"shortest_edge\": 3136}, \"min_pixels\": 6272, \"x\": {\"a\": 1"));
        INDArray px = Qwen2VlImageProcessor.load(dir).preprocess(List.of(RgbImage.load(dir.resolve("image0.png")))).pixelValues();
        assertEquals(80, px.size(0));          // 112×140 = 15680 pixels already exceed the larger minimum
    }
}
