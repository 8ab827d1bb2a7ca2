package org.mha2mla.importers.image;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.config.JsonFields;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * transformers' {@code Qwen2VLImageProcessor} (used by Qwen2.5-VL): {@link #smartResize} to multiples of
 * {@code patch_size · merge_size} within [min_pixels, max_pixels], bicubic resize, rescale, normalise, the frame
 * repeated to {@code temporal_patch_size}, then flattened into patches in transformers' order: the reshape to
 * (grid_t, T, C, grid_h/m, m, P, grid_w/m, m, P) transposed to (grid_t, grid_h/m, grid_w/m, m, m, C, T, P, P), so
 * every 2×2 block of patches the merger joins is contiguous and each row is one patch's C·T·P·P values.
 */
public final class Qwen2VlImageProcessor {

    private final boolean doResize;
    private final int minPixels;
    private final int maxPixels;
    private final int patchSize;
    private final int temporalPatchSize;
    private final int mergeSize;
    private final Resampler.Resampling resample;
    private final Normalization normalization;

    Qwen2VlImageProcessor(boolean doResize, int minPixels, int maxPixels, int patchSize, int temporalPatchSize, int mergeSize,
                          Resampler.Resampling resample, Normalization normalization) {
        this.doResize = doResize;
        this.minPixels = minPixels;
        this.maxPixels = maxPixels;
        this.patchSize = patchSize;
        this.temporalPatchSize = temporalPatchSize;
        this.mergeSize = mergeSize;
        this.resample = resample;
        this.normalization = normalization;
    }

    /** The torchvision backend's results (transformers 5's default); see {@link Resampler}. */
    public static Qwen2VlImageProcessor load(Path modelDir) {
        return load(modelDir, Resampler.Backend.TORCHVISION);
    }

    public static Qwen2VlImageProcessor load(Path modelDir, Resampler.Backend backend) {
        JsonFields f = PreprocessorConfig.read(modelDir);
        PreprocessorConfig.expectType(f, "Qwen2VLImageProcessor");
        return fromJson(f, backend);
    }

    /**
     * {@code size: {shortest_edge: min_pixels, longest_edge: max_pixels}}, which top-level {@code min_pixels} /
     * {@code max_pixels} override (the hub's Qwen2.5-VL files use those); one of the two forms is required, as are
     * patch_size, temporal_patch_size and merge_size (they must agree with the vision tower).
     */
    static Qwen2VlImageProcessor fromJson(JsonFields f, Resampler.Backend backend) {
        JsonFields size = f.object("size");
        Integer min = f.optionalInteger("min_pixels");
        Integer max = f.optionalInteger("max_pixels");
        if (min == null) min = size == null ? null : size.optionalInteger("shortest_edge");
        if (max == null) max = size == null ? null : size.optionalInteger("longest_edge");
        if (min == null) throw new ConfigException(f.file() + ": required field 'size.shortest_edge' (or 'min_pixels') is missing");
        if (max == null) throw new ConfigException(f.file() + ": required field 'size.longest_edge' (or 'max_pixels') is missing");
        if (min <= 0 || max < min) throw f.error("size", "needs 0 < min_pixels <= max_pixels, got " + min + " and " + max);
        return new Qwen2VlImageProcessor(f.bool("do_resize", true), min, max, PreprocessorConfig.positive(f, "patch_size"),
                PreprocessorConfig.positive(f, "temporal_patch_size"), PreprocessorConfig.positive(f, "merge_size"),
                PreprocessorConfig.resample(f, backend), PreprocessorConfig.normalization(f));
    }

    /** Processor output: patches of all images concatenated, and [t, h, w] (in patches) per image. */
    public record Result(INDArray pixelValues, int[][] imageGridThw) {
    }

    public Result preprocess(List<RgbImage> images) {
        if (images.isEmpty()) throw new IllegalArgumentException("no images to preprocess");
        List<float[]> parts = new ArrayList<>();
        int[][] grids = new int[images.size()][];
        int rows = 0;
        for (int i = 0; i < images.size(); i++) {
            RgbImage img = images.get(i);
            if (doResize) {
                int[] hw = smartResize(img.height(), img.width(), patchSize * mergeSize, minPixels, maxPixels);
                img = resample.resize(img, hw[1], hw[0]);
            } else if (img.height() % (patchSize * mergeSize) != 0 || img.width() % (patchSize * mergeSize) != 0) {
                throw new ImageException("image " + i + " is " + img.height() + "x" + img.width() + ": with do_resize false both sides "
                        + "must be multiples of patch_size·merge_size = " + patchSize * mergeSize);
            }
            grids[i] = new int[]{1, img.height() / patchSize, img.width() / patchSize};
            parts.add(patchify(img));
            rows += grids[i][1] * grids[i][2];
        }
        int cols = 3 * temporalPatchSize * patchSize * patchSize;
        float[] out = new float[rows * cols];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return new Result(Nd4j.create(out, new long[]{rows, cols}, 'c'), grids);
    }

    /** One image (one frame, repeated to temporal_patch_size) as [grid_h·grid_w, C·T·P·P] in transformers' order. */
    private float[] patchify(RgbImage img) {
        int h = img.height();
        int w = img.width();
        float[] chw = new float[3 * h * w];
        normalization.apply(img, chw, 0);
        int p = patchSize;
        int m = mergeSize;
        int gh = h / p;
        int gw = w / p;
        int cols = 3 * temporalPatchSize * p * p;
        float[] out = new float[gh * gw * cols];
        int row = 0;
        for (int bh = 0; bh < gh / m; bh++) {
            for (int bw = 0; bw < gw / m; bw++) {
                for (int mh = 0; mh < m; mh++) {
                    for (int mw = 0; mw < m; mw++) {
                        int y0 = (bh * m + mh) * p;
                        int x0 = (bw * m + mw) * p;
                        int o = row * cols;
                        for (int c = 0; c < 3; c++) {
                            for (int t = 0; t < temporalPatchSize; t++) {   // every temporal slot holds the same frame
                                for (int py = 0; py < p; py++) {
                                    System.arraycopy(chw, (c * h + y0 + py) * w + x0, out, o, p);
                                    o += p;
                                }
                            }
                        }
                        row++;
                    }
                }
            }
        }
        return out;
    }

    /**
     * smart_resize (transformers 5): both sides rounded (half to even, like Python's round) to multiples of
     * {@code factor}; if the area leaves [minPixels, maxPixels] the image is scaled by √(ratio) and floored (at least
     * one factor) or ceiled. Returns [height, width].
     */
    public static int[] smartResize(int height, int width, int factor, int minPixels, int maxPixels) {
        if ((double) Math.max(height, width) / Math.min(height, width) > 200) {
            throw new ImageException("absolute aspect ratio must be smaller than 200, got " + height + "x" + width);
        }
        long hBar = (long) Math.rint((double) height / factor) * factor;
        long wBar = (long) Math.rint((double) width / factor) * factor;
        if (hBar * wBar > maxPixels) {
            double beta = Math.sqrt((double) height * width / maxPixels);
            hBar = Math.max(factor, (long) Math.floor(height / beta / factor) * factor);
            wBar = Math.max(factor, (long) Math.floor(width / beta / factor) * factor);
        } else if (hBar * wBar < minPixels) {
            double beta = Math.sqrt((double) minPixels / ((double) height * width));
            hBar = (long) Math.ceil(height * beta / factor) * factor;
            wBar = (long) Math.ceil(width * beta / factor) * factor;
        }
        return new int[]{(int) hBar, (int) wBar};
    }

    public int patchSize() {
        return patchSize;
    }

    public int mergeSize() {
        return mergeSize;
    }

    public int temporalPatchSize() {
        return temporalPatchSize;
    }
}
