package org.mha2mla.importers.image;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.mha2mla.importers.config.JsonFields;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * transformers' {@code LlavaNextImageProcessor} (anyres): per image, the pinpoint of {@code image_grid_pinpoints}
 * that keeps the most resolution ({@link #selectBestResolution}), the image resized into it keeping its aspect
 * ({@link #patchOutputSize}) and zero padded centred to it, cut into {@code crop_size} tiles row by row; in front
 * of them the whole image squashed to {@code shortest_edge × shortest_edge}. Every one of these then goes through
 * the CLIP steps (shortest-edge resize, centre crop, rescale, normalise).
 */
public final class LlavaNextImageProcessor {

    private final List<int[]> pinpoints;
    private final int baseHeight;
    private final int baseWidth;
    private final int tileSize;
    private final Resampler.Resampling resample;
    private final ClipImageProcessor clip;

    LlavaNextImageProcessor(List<int[]> pinpoints, int baseHeight, int baseWidth, int tileSize, Resampler.Resampling resample,
                            ClipImageProcessor clip) {
        this.pinpoints = List.copyOf(pinpoints);
        this.baseHeight = baseHeight;
        this.baseWidth = baseWidth;
        this.tileSize = tileSize;
        this.resample = resample;
        this.clip = clip;
    }

    /** The torchvision backend's results (transformers 5's default); see {@link Resampler}. */
    public static LlavaNextImageProcessor load(Path modelDir) {
        return load(modelDir, Resampler.Backend.TORCHVISION);
    }

    public static LlavaNextImageProcessor load(Path modelDir, Resampler.Backend backend) {
        JsonFields f = PreprocessorConfig.read(modelDir);
        PreprocessorConfig.expectType(f, "LlavaNextImageProcessor");
        return fromJson(f, backend);
    }

    static LlavaNextImageProcessor fromJson(JsonFields f, Resampler.Backend backend) {
        ClipImageProcessor clip = ClipImageProcessor.fromJson(f, backend);
        List<int[]> pinpoints = f.intPairs("image_grid_pinpoints", null);
        if (pinpoints.isEmpty()) throw f.error("image_grid_pinpoints", "must not be empty");
        PreprocessorConfig.Size size = PreprocessorConfig.size(f, "size", false);
        // The base image: size (h, w) when exact, else shortest_edge squared (the aspect is NOT kept).
        int bh = size.isExact() ? size.height() : size.shortestEdge();
        int bw = size.isExact() ? size.width() : size.shortestEdge();
        // Tiles are crop_size.height square (transformers 5: crop_size.height, else size.height, else shortest_edge).
        int tile = f.bool("do_center_crop", true) ? clip.cropHeight() : bh;
        return new LlavaNextImageProcessor(pinpoints, bh, bw, tile, PreprocessorConfig.resample(f, backend), clip);
    }

    /** What the processor returns for a batch: tiles of all images concatenated, and each image's [height, width]. */
    public record Result(INDArray pixelValues, int[][] imageSizes, int[] tilesPerImage) {
    }

    /**
     * Pixel values {@code [Σ tiles, 3, S, S]} (image i contributes {@code 1 + rows·cols} tiles, base image first;
     * transformers pads this per image to the largest tile count and stacks to [n, max_tiles, 3, S, S], of which
     * the model only reads the first tiles of each image) and {@code image_sizes} [height, width] per image.
     */
    public Result preprocess(List<RgbImage> images) {
        if (images.isEmpty()) throw new IllegalArgumentException("no images to preprocess");
        List<RgbImage> tiles = new ArrayList<>();
        int[][] sizes = new int[images.size()][];
        int[] counts = new int[images.size()];
        for (int i = 0; i < images.size(); i++) {
            List<RgbImage> t = imagePatches(images.get(i));
            counts[i] = t.size();
            sizes[i] = new int[]{images.get(i).height(), images.get(i).width()};
            for (RgbImage p : t) tiles.add(clip.geometry(p));
        }
        RgbImage first = tiles.get(0);
        int h = first.height();
        int w = first.width();
        float[] out = new float[tiles.size() * 3 * h * w];
        for (int i = 0; i < tiles.size(); i++) {
            RgbImage t = tiles.get(i);
            if (t.height() != h || t.width() != w) {
                throw new ImageException("anyres tile " + i + " is " + t.height() + "x" + t.width() + ", expected " + h + "x" + w);
            }
            clip.normalization().apply(t, out, i * 3 * h * w);
        }
        return new Result(Nd4j.create(out, new long[]{tiles.size(), 3, h, w}, 'c'), sizes, counts);
    }

    /** get_image_patches: [base image] + the tiles of the padded best-resolution image, in uint8 before the CLIP steps. */
    public List<RgbImage> imagePatches(RgbImage image) {
        int[] best = selectBestResolution(new int[]{image.height(), image.width()}, pinpoints);
        int[] hw = patchOutputSize(image.height(), image.width(), best);
        RgbImage resized = resample.resize(image, hw[1], hw[0]);
        // _get_padding_size: floor half before, the remainder after.
        RgbImage padded = resized.padTo(best[1], best[0], (best[1] - hw[1]) / 2, (best[0] - hw[0]) / 2);
        List<RgbImage> out = new ArrayList<>();
        out.add(resample.resize(image, baseWidth, baseHeight));
        for (int y = 0; y < padded.height(); y += tileSize) {
            for (int x = 0; x < padded.width(); x += tileSize) {
                out.add(padded.crop(x, y, Math.min(tileSize, padded.width() - x), Math.min(tileSize, padded.height() - y)));
            }
        }
        return out;
    }

    /**
     * select_best_resolution: the [height, width] pinpoint where the image, scaled to fit, keeps the most pixels
     * (capped at its own count); ties go to the least wasted area, then to the first pinpoint.
     */
    public static int[] selectBestResolution(int[] originalSize, List<int[]> pinpoints) {
        int oh = originalSize[0];
        int ow = originalSize[1];
        int[] best = null;
        long maxEffective = 0;
        long minWasted = Long.MAX_VALUE;
        for (int[] p : pinpoints) {
            double scale = Math.min((double) p[1] / ow, (double) p[0] / oh);
            long dw = (long) (ow * scale);
            long dh = (long) (oh * scale);
            long effective = Math.min(dw * dh, (long) ow * oh);
            long wasted = (long) p[0] * p[1] - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted)) {
                maxEffective = effective;
                minWasted = wasted;
                best = new int[]{p[0], p[1]};
            }
        }
        if (best == null) throw new IllegalArgumentException("image_grid_pinpoints is empty");
        return best;
    }

    /** get_patch_output_size: [height, width] of the image scaled to fit {@code target} (the scaled side ceil'ed). */
    public static int[] patchOutputSize(int height, int width, int[] target) {
        double scaleW = (double) target[1] / width;
        double scaleH = (double) target[0] / height;
        if (scaleW < scaleH) return new int[]{Math.min((int) Math.ceil(height * scaleW), target[0]), target[1]};
        return new int[]{target[0], Math.min((int) Math.ceil(width * scaleH), target[1])};
    }

    public List<int[]> pinpoints() {
        return pinpoints;
    }

    /** Side of the square tiles (and of the pixel values fed to the vision tower). */
    public int tileSize() {
        return tileSize;
    }

    public ClipImageProcessor clip() {
        return clip;
    }
}
