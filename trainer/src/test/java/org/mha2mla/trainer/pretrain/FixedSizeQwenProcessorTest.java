package org.mha2mla.trainer.pretrain;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.trainer.LossMask;
import org.mha2mla.trainer.data.ChatExampleEncoder;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The processor on the Qwen2.5-VL fixture folder (its byte-level tokenizer, chat template and preprocessor config)
 * against transformers' processor outputs in golden.safetensors (c0: the 137×101 image resized to 140×112, grid
 * [1, 8, 10]).
 */
class FixedSizeQwenProcessorTest {

    static Path fixture;
    static FixedSizeQwenProcessor processor;
    static INDArray goldenPixels;
    static long[] goldenIds;

    @BeforeAll
    static void load() throws Exception {
        fixture = Path.of(FixedSizeQwenProcessorTest.class.getResource("/hf/qwen2_5_vl/config.json").toURI()).getParent();
        processor = FixedSizeQwenProcessor.load(fixture);
        try (SafeTensorsFile g = SafeTensorsFile.open(fixture.resolve("golden.safetensors"))) {
            goldenPixels = g.readFloat32("c0.pixel_values");
            goldenIds = g.readLongs("c0.input_ids");
        }
    }

    @AfterAll
    static void close() {
        processor.close();
    }

    /**
     * Index of element (row, col) of the processor output in the frame stack [T, C, H, W], from numpy's semantics of
     * {@code reshape(1, T, C, h/m, m, P, w/m, m, P).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(rows, cols)}: written
     * generically (a shape, a permutation, row-major strides), independent of the processor's nested loops.
     */
    static int[] source(int row, int col, int t, int c, int gh, int gw, int m, int p) {
        int[] shape = {1, t, c, gh / m, m, p, gw / m, m, p};
        int[] perm = {0, 3, 6, 4, 7, 2, 1, 5, 8};
        int[] permShape = new int[9];
        for (int i = 0; i < 9; i++) permShape[i] = shape[perm[i]];
        long flat = (long) row * (c * t * p * p) + col;
        int[] permIndex = new int[9];
        for (int i = 8; i >= 0; i--) {
            permIndex[i] = (int) (flat % permShape[i]);
            flat /= permShape[i];
        }
        int[] idx = new int[9];
        for (int i = 0; i < 9; i++) idx[perm[i]] = permIndex[i];
        int y = (idx[3] * m + idx[4]) * p + idx[5];
        int x = (idx[6] * m + idx[7]) * p + idx[8];
        return new int[] {idx[1], idx[2], y, x};
    }

    @Test
    void patchFlatteningOrderReproducesTransformersPixelValuesBitwise() {
        int gh = 8, gw = 10, m = 2, p = 14;
        float[][][] image = new float[3][gh * p][gw * p];
        for (int r = 0; r < goldenPixels.rows(); r++) {
            for (int c = 0; c < goldenPixels.columns(); c++) {
                int[] s = source(r, c, 2, 3, gh, gw, m, p);
                float v = goldenPixels.getFloat(r, c);
                if (s[0] == 0) image[s[1]][s[2]][s[3]] = v;
            }
        }
        // The second temporal frame is the first one repeated.
        for (int r = 0; r < goldenPixels.rows(); r++) {
            for (int c = 0; c < goldenPixels.columns(); c++) {
                int[] s = source(r, c, 2, 3, gh, gw, m, p);
                assertEquals(image[s[1]][s[2]][s[3]], goldenPixels.getFloat(r, c), 0f);
            }
        }
        INDArray mine = processor.patchify(image);
        assertArrayEquals(goldenPixels.shape(), mine.shape());
        assertEquals(0.0, mine.sub(goldenPixels).amaxNumber().doubleValue(), 0.0);
    }

    @Test
    void normalisationIsRescaleThenMeanStdOfTheConfig() {
        // Golden pixels come from uint8 pixels: undoing mean/std and 1/255 must land on integers.
        double[] mean = ScratchModel.IMAGE_MEAN;
        double[] std = ScratchModel.IMAGE_STD;
        double worst = 0;
        for (int r = 0; r < goldenPixels.rows(); r++) {
            for (int c = 0; c < goldenPixels.columns(); c++) {
                int ch = c / (2 * 14 * 14);
                double x = (goldenPixels.getDouble(r, c) * std[ch] + mean[ch]) * 255;
                worst = Math.max(worst, Math.abs(x - Math.rint(x)));
            }
        }
        assertTrue(worst < 2e-3, "golden pixel values are not (k/255 − mean)/std: off by " + worst);

        BufferedImage img = new BufferedImage(56, 56, BufferedImage.TYPE_INT_RGB);
        img.setRGB(3, 5, (200 << 16) | (10 << 8) | 255);
        float[][][] n = processor.normalize(img);
        assertEquals((200 / 255.0 - mean[0]) / std[0], n[0][5][3], 1e-6);
        assertEquals((10 / 255.0 - mean[1]) / std[1], n[1][5][3], 1e-6);
        assertEquals((255 / 255.0 - mean[2]) / std[2], n[2][5][3], 1e-6);
        assertEquals((0 - mean[1]) / std[1], n[1][0][0], 1e-6);
    }

    @Test
    void promptTokensEqualTransformersProcessor() {
        // The golden prompt's grid [1, 8, 10] → 20 image tokens; the chat template and byte-level BPE of the fixture.
        ChatExampleEncoder.Images images = new ChatExampleEncoder.Images(goldenPixels, null, new int[][] {{1, 8, 10}});
        String text = processor.render(List.of(new LossMask.Message(LossMask.USER, "<image>\nWhat is the color of the square?")), true);
        assertEquals("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is the color of the square?<|im_end|>\n"
                + "<|im_start|>assistant\n", text);
        assertArrayEquals(goldenIds, processor.tokenize(text, images));
    }

    @Test
    void a112PixelImageIsOneGridOf8By8PatchesAndSixteenImageTokens() {
        MultimodalInput in = processor.prompt("What is the color of the square?", new BufferedImage(112, 112, BufferedImage.TYPE_INT_RGB));
        assertArrayEquals(new int[][] {{1, 8, 8}}, in.imageGridThw());
        assertArrayEquals(new long[] {64, 3 * 2 * 14 * 14}, in.pixelValues().shape());
        long pads = java.util.Arrays.stream(in.inputIds()).filter(id -> id == 6).count();   // the fixture's <|image_pad|>
        assertEquals(16, pads);
    }

    @Test
    void longPromptsAreNotTruncated() {
        // 784 image tokens (a 784×784 picture): more than DJL's default 512-token limit.
        ChatExampleEncoder.Images big = new ChatExampleEncoder.Images(null, null, new int[][] {{1, 56, 56}});
        long[] ids = processor.tokenize("<|vision_start|><|image_pad|><|vision_end|>x", big);
        assertEquals(784 + 3, ids.length);
    }

    @Test
    void sizesThatSmartResizeWouldChangeAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> processor.images(List.of(new BufferedImage(137, 101, BufferedImage.TYPE_INT_RGB))));
        assertTrue(e.getMessage().contains("137×101") && e.getMessage().contains("28"), e.getMessage());
        // 28×28 = 784 pixels is below min_pixels 3136.
        assertThrows(IllegalArgumentException.class, () -> processor.images(List.of(new BufferedImage(28, 28, BufferedImage.TYPE_INT_RGB))));
    }
}
