package org.mha2mla.importers.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;
import org.mha2mla.importers.image.Resampler.Backend;
import org.mha2mla.importers.image.Resampler.Filter;

/**
 * The fixed-point resamplers against closed forms and against a plain double-precision convolution with the same
 * antialiased kernels (a second implementation): each pass may differ from it by the fixed-point rounding only.
 */
class ResamplerTest {

    private static RgbImage random(int w, int h, long seed) {
        byte[] b = new byte[w * h * 3];
        new Random(seed).nextBytes(b);
        return new RgbImage(w, h, b);
    }

    @Test
    void bilinearHalvingIsTheClosedFormAntialiasedAverage() {
        // 4 → 2 with bilinear: support widened to 2, taps at distances 0.25/0.25/0.75 (×½) → weights 3/7, 3/7, 1/7.
        byte[] row = {0, 0, 0, 70, 70, 70, (byte) 140, (byte) 140, (byte) 140, (byte) 210, (byte) 210, (byte) 210};
        RgbImage img = new RgbImage(4, 1, row);
        for (Backend b : Backend.values()) {
            RgbImage out = img.resize(2, 1, Filter.BILINEAR, b);
            assertEquals(50, out.get(0, 0, 0), b.name());           // (3·0 + 3·70 + 140) / 7
            assertEquals(160, out.get(1, 0, 1), b.name());          // (70 + 3·140 + 3·210) / 7
        }
    }

    @Test
    void constantImagesStayConstantAndSameSizeIsACopy() {
        byte[] b = new byte[30 * 20 * 3];
        java.util.Arrays.fill(b, (byte) 173);
        RgbImage flat = new RgbImage(30, 20, b);
        for (Backend backend : Backend.values()) {
            for (Filter f : new Filter[]{Filter.BICUBIC, Filter.BILINEAR, Filter.NEAREST}) {
                RgbImage out = flat.resize(13, 47, f, backend);
                for (int y = 0; y < 47; y++) for (int x = 0; x < 13; x++) assertEquals(173, out.get(x, y, 2), f + " " + backend);
            }
        }
        RgbImage r = random(9, 7, 1);
        RgbImage same = r.resize(9, 7, Filter.BICUBIC, Backend.PIL);
        for (int y = 0; y < 7; y++) for (int x = 0; x < 9; x++) assertEquals(r.get(x, y, 1), same.get(x, y, 1));
    }

    /** Float reference: the same separable antialiased convolution in doubles, rounded and clipped after each pass. */
    private static RgbImage reference(RgbImage in, int ow, int oh, Filter f) {
        double[][] tmp = new double[in.height()][ow * 3];
        for (int y = 0; y < in.height(); y++) {
            for (int xx = 0; xx < ow; xx++) {
                double[] w = weights(in.width(), ow, xx, f);
                int min = (int) w[w.length - 1];
                for (int c = 0; c < 3; c++) {
                    double s = 0;
                    for (int k = 0; k < w.length - 1; k++) s += w[k] * in.get(min + k, y, c);
                    tmp[y][xx * 3 + c] = Math.max(0, Math.min(255, Math.floor(s + 0.5)));
                }
            }
        }
        byte[] out = new byte[ow * oh * 3];
        for (int yy = 0; yy < oh; yy++) {
            double[] w = weights(in.height(), oh, yy, f);
            int min = (int) w[w.length - 1];
            for (int x = 0; x < ow * 3; x++) {
                double s = 0;
                for (int k = 0; k < w.length - 1; k++) s += w[k] * tmp[min + k][x];
                out[yy * ow * 3 + x] = (byte) Math.max(0, Math.min(255, Math.floor(s + 0.5)));
            }
        }
        return new RgbImage(ow, oh, out);
    }

    /** Normalised taps of output pixel {@code i}, the first source index appended last. */
    private static double[] weights(int in, int out, int i, Filter f) {
        double scale = (double) in / out;
        double fs = Math.max(1, scale);
        double support = f.support * fs;
        double center = (i + 0.5) * scale;
        int min = Math.max(0, (int) (center - support + 0.5));
        int max = Math.min(in, (int) (center + support + 0.5));
        double[] w = new double[max - min + 1];
        double total = 0;
        for (int x = min; x < max; x++) {
            w[x - min] = f.weight((x - center + 0.5) / fs);
            total += w[x - min];
        }
        for (int k = 0; k < max - min; k++) w[k] /= total;
        w[max - min] = min;
        return w;
    }

    @Test
    void fixedPointPassesAgreeWithADoubleConvolution() {
        int[][] sizes = {{137, 101, 75, 56}, {150, 83, 112, 62}, {101, 137, 140, 112}, {40, 30, 13, 57}};
        for (int[] s : sizes) {
            RgbImage img = random(s[0], s[1], s[0] * 31L + s[1]);
            for (Filter f : new Filter[]{Filter.BICUBIC, Filter.BILINEAR}) {
                RgbImage ref = reference(img, s[2], s[3], f);
                for (Backend b : Backend.values()) {
                    RgbImage out = img.resize(s[2], s[3], f, b);
                    int worst = 0;
                    for (int y = 0; y < s[3]; y++) {
                        for (int x = 0; x < s[2]; x++) {
                            for (int c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(out.get(x, y, c) - ref.get(x, y, c)));
                        }
                    }
                    // One level per pass at most (the intermediate uint8 image can carry one level into the second pass).
                    assertTrue(worst <= 2, f + " " + b + " " + java.util.Arrays.toString(s) + ": " + worst + " levels off");
                }
            }
        }
    }

    @Test
    void backendsDifferByAtMostOneLevelPerPass() {
        RgbImage img = random(137, 101, 7);
        RgbImage pil = img.resize(75, 56, Filter.BICUBIC, Backend.PIL);
        RgbImage tv = img.resize(75, 56, Filter.BICUBIC, Backend.TORCHVISION);
        int worst = 0;
        int differing = 0;
        for (int y = 0; y < 56; y++) {
            for (int x = 0; x < 75; x++) {
                for (int c = 0; c < 3; c++) {
                    int d = Math.abs(pil.get(x, y, c) - tv.get(x, y, c));
                    worst = Math.max(worst, d);
                    if (d > 0) differing++;
                }
            }
        }
        assertTrue(worst <= 2, "PIL vs torchvision differ by " + worst);
        assertTrue(differing < 75 * 56 * 3 / 10, differing + " values differ");
    }

    @Test
    void nearestPicksPixelCentresPilStyleAndFloorTorchStyle() {
        byte[] b = new byte[5 * 3];
        for (int x = 0; x < 5; x++) b[x * 3] = (byte) (x * 10);
        RgbImage img = new RgbImage(5, 1, b);
        RgbImage pil = img.resize(2, 1, Filter.NEAREST, Backend.PIL);      // centres 1.25, 3.75 → 1, 3
        assertEquals(10, pil.get(0, 0, 0));
        assertEquals(30, pil.get(1, 0, 0));
        RgbImage torch = img.resize(2, 1, Filter.NEAREST, Backend.TORCHVISION); // floor(i · 2.5) → 0, 2
        assertEquals(0, torch.get(0, 0, 0));
        assertEquals(20, torch.get(1, 0, 0));
    }

    @Test
    void filterCodesAndUnsupportedCombinations() {
        assertEquals(Filter.BICUBIC, Filter.ofCode(3));
        assertEquals(Filter.BILINEAR, Filter.ofCode(2));
        assertThrows(IllegalArgumentException.class, () -> Filter.ofCode(7));
        RgbImage img = random(8, 8, 3);
        ImageException e = assertThrows(ImageException.class, () -> img.resize(4, 4, Filter.BOX, Backend.TORCHVISION));
        assertTrue(e.getMessage().contains("BOX"), e.getMessage());
        assertThrows(ImageException.class, () -> img.resize(0, 4, Filter.BICUBIC, Backend.PIL));
    }
}
