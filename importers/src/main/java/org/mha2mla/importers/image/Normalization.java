package org.mha2mla.importers.image;

/**
 * transformers' {@code rescale} then {@code normalize}: {@code (v · rescaleFactor − mean[c]) / std[c]} per channel
 * (rescale 1, mean 0, std 1 where the config turns a step off).
 */
public record Normalization(double rescaleFactor, double[] mean, double[] std) {

    public Normalization {
        mean = mean.clone();
        std = std.clone();
    }

    /** Channels-first floats [3, H, W] of {@code img} into {@code out} at {@code offset}. */
    public void apply(RgbImage img, float[] out, int offset) {
        img.toChannelsFirst(rescaleFactor, mean, std, out, offset);
    }

    /** The float an 8-bit value {@code v} of channel {@code c} becomes (padding pixels are 0 before this). */
    public float of(int v, int c) {
        return (float) ((v * rescaleFactor - mean[c]) / std[c]);
    }
}
