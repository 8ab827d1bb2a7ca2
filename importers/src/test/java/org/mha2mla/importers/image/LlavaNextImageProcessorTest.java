package org.mha2mla.importers.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.HfFixtures;
import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Anyres of the llava_next fixture (150×83 PNG → pinpoint 112×112: base + 2×2 tiles of 56) against transformers. */
class LlavaNextImageProcessorTest {

    @TempDir
    Path tmp;

    private static final List<int[]> PINPOINTS = List.of(new int[]{56, 112}, new int[]{112, 56}, new int[]{112, 112},
            new int[]{168, 56}, new int[]{56, 168});

    private static double errorVsGolden(Resampler.Backend backend) {
        Path dir = HfFixtures.dir("llava_next");
        LlavaNextImageProcessor.Result r = LlavaNextImageProcessor.load(dir, backend)
                .preprocess(List.of(RgbImage.load(dir.resolve("image0.png"))));
        try (SafeTensorsFile g = HfFixtures.golden("llava_next")) {
            INDArray gold = g.readFloat32("c0.pixel_values");           // [1, 5, 3, 56, 56]
            assertArrayEquals(new long[]{5, 3, 56, 56}, r.pixelValues().shape());
            long[] sizes = g.readLongs("c0.image_sizes");
            assertArrayEquals(new int[]{(int) sizes[0], (int) sizes[1]}, r.imageSizes()[0]);
            assertArrayEquals(new int[]{5}, r.tilesPerImage());
            return HfFixtures.maxAbsDiff(r.pixelValues(), gold.reshape(5, 3, 56, 56));
        }
    }

    @Test
    void torchvisionBackendReproducesTransformersPixelValues() {
        double err = errorVsGolden(Resampler.Backend.TORCHVISION);
        System.out.printf("llava_next pixel_values max abs err (torchvision backend) %.3e%n", err);
        assertTrue(err < 1e-5, "max abs err " + err);
    }

    @Test
    void pilBackendIsWithinOneUint8Level() {
        double err = errorVsGolden(Resampler.Backend.PIL);
        System.out.printf("llava_next pixel_values max abs err (PIL backend) %.3e%n", err);
        assertTrue(err < 2e-2, "max abs err " + err);
    }

    @Test
    void bestResolutionKeepsMostPixelsThenWastesLeast() {
        // 83×150: 112×112 keeps 112·61 = 6832 pixels, more than 56×112 (101·56 = 5656).
        assertArrayEquals(new int[]{112, 112}, LlavaNextImageProcessor.selectBestResolution(new int[]{83, 150}, PINPOINTS));
        // 20×40 fits whole into several; 56×112 wastes least.
        assertArrayEquals(new int[]{56, 112}, LlavaNextImageProcessor.selectBestResolution(new int[]{20, 40}, PINPOINTS));
        assertArrayEquals(new int[]{168, 56}, LlavaNextImageProcessor.selectBestResolution(new int[]{300, 90}, PINPOINTS));
    }

    @Test
    void patchOutputSizeScalesTheConstrainedSideAndCeilsTheOther() {
        assertArrayEquals(new int[]{62, 112}, LlavaNextImageProcessor.patchOutputSize(83, 150, new int[]{112, 112})); // ceil(61.97)
        assertArrayEquals(new int[]{112, 38}, LlavaNextImageProcessor.patchOutputSize(300, 100, new int[]{112, 112})); // ceil(37.33)
    }

    @Test
    void tilesAreTheBaseImageThenRowMajorCropsOfThePaddedImage() {
        Path dir = HfFixtures.dir("llava_next");
        LlavaNextImageProcessor p = LlavaNextImageProcessor.load(dir);
        RgbImage img = RgbImage.load(dir.resolve("image0.png"));
        List<RgbImage> patches = p.imagePatches(img);
        assertEquals(5, patches.size());
        for (RgbImage t : patches) {
            assertEquals(56, t.width());
            assertEquals(56, t.height());
        }
        // 62 rows of image centred in 112: 25 black rows on top, so the first tiles start black, the bottom ones end black.
        assertEquals(0, patches.get(1).get(10, 24, 0) + patches.get(1).get(10, 24, 1) + patches.get(1).get(10, 24, 2));
        assertEquals(0, patches.get(3).get(10, 31, 0) + patches.get(3).get(10, 31, 1) + patches.get(3).get(10, 31, 2));
        assertTrue(patches.get(1).get(10, 25, 2) > 100);            // first image row: the light background
        assertTrue(patches.get(3).get(10, 30, 2) > 100);            // last image row
    }

    @Test
    void configWithoutPinpointsIsRejected() throws IOException {
        Path dir = HfFixtures.copy("llava_next", tmp);
        Path file = dir.resolve("preprocessor_config.json");
        Files.writeString(file, Files.readString(file).replace("image_grid_pinpoints", "grid"));
        ConfigException e = assertThrows(ConfigException.class, () -> LlavaNextImageProcessor.load(dir));
        assertTrue(e.getMessage().contains("preprocessor_config.json") && e.getMessage().contains("image_grid_pinpoints"), e.getMessage());
    }
}
