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

/** CLIPImageProcessor of the llava fixture against transformers' c0.pixel_values (137×101 PNG → 56×56). */
class ClipImageProcessorTest {

    @TempDir
    Path tmp;

    private static double errorVsGolden(Resampler.Backend backend) {
        Path dir = HfFixtures.dir("llava");
        INDArray java = ClipImageProcessor.load(dir, backend).preprocess(List.of(RgbImage.load(dir.resolve("image0.png"))));
        try (SafeTensorsFile g = HfFixtures.golden("llava")) {
            INDArray gold = g.readFloat32("c0.pixel_values");
            assertArrayEquals(gold.shape(), java.shape());
            return HfFixtures.maxAbsDiff(java, gold);
        }
    }

    @Test
    void torchvisionBackendReproducesTransformersPixelValues() {
        double err = errorVsGolden(Resampler.Backend.TORCHVISION);
        System.out.printf("llava pixel_values max abs err (torchvision backend) %.3e%n", err);
        assertTrue(err < 1e-5, "max abs err " + err);
    }

    @Test
    void pilBackendIsWithinOneUint8Level() {
        double err = errorVsGolden(Resampler.Backend.PIL);
        System.out.printf("llava pixel_values max abs err (PIL backend) %.3e%n", err);
        assertTrue(err < 2e-2, "max abs err " + err);   // one level = 1 / 255 / 0.2613 = 0.0150
    }

    @Test
    void shortestEdgeKeepsAspectWithTheLongEdgeTruncated() {
        assertArrayEquals(new int[]{56, 75}, ClipImageProcessor.shortestEdgeSize(101, 137, 56));  // 56·137/101 = 75.96
        assertArrayEquals(new int[]{75, 56}, ClipImageProcessor.shortestEdgeSize(137, 101, 56));
        assertArrayEquals(new int[]{336, 336}, ClipImageProcessor.shortestEdgeSize(500, 500, 336));
    }

    @Test
    void centreCropRoundsDownAndPadsSmallImages() {
        byte[] b = new byte[5 * 1 * 3];
        for (int x = 0; x < 5; x++) b[x * 3] = (byte) (x + 1);
        RgbImage img = new RgbImage(5, 1, b);
        RgbImage crop = ClipImageProcessor.centerCrop(img, 1, 2);   // left int((5 - 2) / 2) = 1
        assertEquals(2, crop.get(0, 0, 0));
        assertEquals(3, crop.get(1, 0, 0));
        RgbImage grown = ClipImageProcessor.centerCrop(img, 4, 5);  // 3 rows of padding: 1 above, 2 below
        assertEquals(0, grown.get(0, 0, 0));
        assertEquals(1, grown.get(0, 1, 0));
        assertEquals(0, grown.get(0, 2, 0));
    }

    @Test
    void configWithoutSizeIsRejectedNamingFileAndField() throws IOException {
        Path dir = HfFixtures.copy("llava", tmp);
        Path file = dir.resolve("preprocessor_config.json");
        Files.writeString(file, Files.readString(file).replace("\"size\"", "\"sizes\""));
        ConfigException e = assertThrows(ConfigException.class, () -> ClipImageProcessor.load(dir));
        assertTrue(e.getMessage().contains("preprocessor_config.json") && e.getMessage().contains("'size'"), e.getMessage());

        Files.writeString(file, Files.readString(file).replace("\"sizes\"", "\"size\"").replace("\"image_mean\"", "\"x\"")
                .replace("\"image_std\": [", "\"image_std\": [0.5, ").replace("CLIPImageProcessor", "CLIPImageProcessor"));
        e = assertThrows(ConfigException.class, () -> ClipImageProcessor.load(dir));
        assertTrue(e.getMessage().contains("image_std") && e.getMessage().contains("3 values"), e.getMessage());
    }

    @Test
    void wrongProcessorTypeAndMissingFilesAreClear() throws IOException {
        ConfigException e = assertThrows(ConfigException.class, () -> ClipImageProcessor.load(HfFixtures.dir("qwen2_5_vl")));
        assertTrue(e.getMessage().contains("Qwen2VLImageProcessor") && e.getMessage().contains("CLIPImageProcessor"), e.getMessage());
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(ConfigException.class, () -> ClipImageProcessor.load(empty));
        assertTrue(e.getMessage().contains("preprocessor_config.json"), e.getMessage());
    }

    @Test
    void readsTheNestedImageProcessorOfProcessorConfigWhenAlone() throws IOException {
        Path dir = HfFixtures.copy("llava", tmp);
        Files.delete(dir.resolve("preprocessor_config.json"));
        INDArray a = ClipImageProcessor.load(dir).preprocess(List.of(RgbImage.load(dir.resolve("image0.png"))));
        INDArray b = ClipImageProcessor.load(HfFixtures.dir("llava")).preprocess(List.of(RgbImage.load(dir.resolve("image0.png"))));
        assertEquals(a, b);
    }
}
