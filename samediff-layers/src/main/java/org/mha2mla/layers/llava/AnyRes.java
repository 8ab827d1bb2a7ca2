package org.mha2mla.layers.llava;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.List;

/**
 * LLaVA-NeXT's anyres geometry, ported from transformers (image_processing_utils.select_best_resolution,
 * modeling_llava_next.get_anyres_image_grid_shape, image_size_to_num_patches, unpad_image) with Python's
 * integer and rounding semantics. All sizes are [height, width].
 */
public final class AnyRes {

    private AnyRes() {
    }

    /**
     * The pinpoint that keeps the most of the original resolution when the image is scaled to fit, ties broken
     * by the least wasted area (first pinpoint wins a full tie).
     */
    public static int[] selectBestResolution(int[] originalSize, List<int[]> pinpoints) {
        int oh = originalSize[0];
        int ow = originalSize[1];
        int[] best = null;
        long maxEffective = 0;
        double minWasted = Double.POSITIVE_INFINITY;
        for (int[] p : pinpoints) {
            int h = p[0];
            int w = p[1];
            double scale = Math.min((double) w / ow, (double) h / oh);
            long dw = (long) (ow * scale); // Python int(): truncation
            long dh = (long) (oh * scale);
            long effective = Math.min(dw * dh, (long) ow * oh);
            long wasted = (long) w * h - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted)) {
                maxEffective = effective;
                minWasted = wasted;
                best = new int[]{h, w};
            }
        }
        if (best == null) throw new IllegalArgumentException("image_grid_pinpoints is empty");
        return best;
    }

    /** get_anyres_image_grid_shape: tiles [rows, cols] of the best pinpoint in units of {@code tileSize}. */
    public static int[] gridShape(int[] imageSize, List<int[]> pinpoints, int tileSize) {
        int[] best = selectBestResolution(imageSize, pinpoints);
        return new int[]{best[0] / tileSize, best[1] / tileSize};
    }

    /** image_size_to_num_patches: the tiles of the best pinpoint (ceil per side) plus the base image. */
    public static int numPatches(int[] imageSize, List<int[]> pinpoints, int tileSize) {
        int[] best = selectBestResolution(imageSize, pinpoints);
        int rows = (best[0] + tileSize - 1) / tileSize;
        int cols = (best[1] + tileSize - 1) / tileSize;
        return rows * cols + 1;
    }

    /**
     * unpad_image: the [from, to) row and column ranges of a [currentHeight, currentWidth] feature grid that
     * cover the original image once the letterbox padding is cut away. Returned as {rowFrom, rowTo, colFrom, colTo}.
     */
    public static int[] unpadRanges(int[] originalSize, int currentHeight, int currentWidth) {
        int oh = originalSize[0];
        int ow = originalSize[1];
        double originalAspect = (double) ow / oh;
        double currentAspect = (double) currentWidth / currentHeight;
        if (originalAspect > currentAspect) {
            double scale = (double) currentWidth / ow;
            int newHeight = roundTo7Truncated(oh * scale);
            int padding = (currentHeight - newHeight) / 2;
            return new int[]{padding, currentHeight - padding, 0, currentWidth};
        }
        double scale = (double) currentHeight / oh;
        int newWidth = roundTo7Truncated(ow * scale);
        int padding = (currentWidth - newWidth) / 2;
        return new int[]{0, currentHeight, padding, currentWidth - padding};
    }

    /** int(round(x, 7)): Python rounds the exact binary value half-to-even at 7 decimals, then truncates. */
    static int roundTo7Truncated(double x) {
        return new BigDecimal(x).setScale(7, RoundingMode.HALF_EVEN).intValue();
    }
}
