package org.mha2mla.importers.image;

/**
 * Image resizing exactly as transformers' two image-processor backends do it on 8-bit RGB:
 * {@link Backend#PIL} is Pillow's {@code Image.resize} ported from {@code libImaging/Resample.c};
 * {@link Backend#TORCHVISION} is torchvision's {@code resize(uint8 tensor, antialias=True)}, whose CPU kernel
 * ({@code UpSampleKernel.cpp} / {@code UpSampleKernelAVXAntialias.h}) ports the same algorithm with other
 * fixed-point weights. transformers 5 uses the torchvision backend whenever torchvision is installed.
 *
 * <p>Convolution filters are separable and antialiased: when downscaling by {@code s} the filter support is
 * widened by {@code s} ({@code precompute_coeffs}, {@code _compute_indices_min_size_weights_aa}; identical float
 * weights in both). The weights of an output pixel are normalised to sum 1 and turned into fixed point: Pillow
 * uses 22 fractional bits ({@code normalize_coeffs_8bpc}); torch uses int16 weights with the most fractional
 * bits that keep the largest weight of the pass below 2^15 ({@code _compute_index_ranges_int16_weights}). The
 * two passes (horizontal first, then vertical, a uint8 image in between) round by adding half and shifting, then
 * clip to 0..255. So the backends can differ by one uint8 level on a few pixels; each is reproduced exactly.
 */
public final class Resampler {

    /** Which library's resize to reproduce. */
    public enum Backend {
        /** Pillow (transformers' {@code *ImageProcessorPil}, and transformers 4 without torchvision). */
        PIL,
        /** torchvision on uint8 tensors (transformers 5's default {@code *ImageProcessor} backend). */
        TORCHVISION
    }

    /** Pillow's resampling filters, with the integer codes transformers configs store in {@code resample}. */
    public enum Filter {
        NEAREST(0, 0.0),
        LANCZOS(1, 3.0),
        BILINEAR(2, 1.0),
        BICUBIC(3, 2.0),
        BOX(4, 0.5),
        HAMMING(5, 1.0);

        final int code;
        final double support;

        Filter(int code, double support) {
            this.code = code;
            this.support = support;
        }

        /** The filter of a {@code resample} code (PIL.Image.Resampling). */
        public static Filter ofCode(int code) {
            for (Filter f : values()) if (f.code == code) return f;
            throw new IllegalArgumentException("resample must be a PIL filter code 0..5 (0 nearest, 2 bilinear, 3 bicubic), got " + code);
        }

        double weight(double x) {
            switch (this) {
                case BOX:
                    return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
                case BILINEAR:
                    x = Math.abs(x);
                    return x < 1.0 ? 1.0 - x : 0.0;
                case HAMMING:
                    x = Math.abs(x);
                    if (x == 0.0) return 1.0;
                    if (x >= 1.0) return 0.0;
                    x = x * Math.PI;
                    return Math.sin(x) / x * (0.54 + 0.46 * Math.cos(x));
                case BICUBIC:
                    // Keys' cubic with a = -0.5 (PIL's choice; torch's non-antialiased bicubic uses -0.75).
                    final double a = -0.5;
                    x = Math.abs(x);
                    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
                    return 0.0;
                case LANCZOS:
                    return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
                default:
                    throw new IllegalStateException("NEAREST has no convolution kernel");
            }
        }

        private static double sinc(double x) {
            if (x == 0.0) return 1.0;
            x = x * Math.PI;
            return Math.sin(x) / x;
        }
    }

    /** A filter (the config's {@code resample}) resized the way one backend does it. */
    public record Resampling(Filter filter, Backend backend) {
        public RgbImage resize(RgbImage img, int width, int height) {
            return Resampler.resize(img, width, height, filter, backend);
        }
    }

    private static final int PRECISION_BITS = 32 - 8 - 2;

    private Resampler() {
    }

    public static RgbImage resize(RgbImage in, int outWidth, int outHeight, Filter filter, Backend backend) {
        if (outWidth <= 0 || outHeight <= 0) {
            throw new ImageException("resize of " + in + " to " + outWidth + "x" + outHeight + ": size must be positive");
        }
        if (outWidth == in.width() && outHeight == in.height()) return new RgbImage(outWidth, outHeight, in.bytes().clone());
        if (backend == Backend.TORCHVISION) {
            switch (filter) {
                case NEAREST:
                    return torchNearest(in, outWidth, outHeight);
                case LANCZOS:
                    // transformers' torchvision backend warns and resizes LANCZOS as BICUBIC (tensors have no LANCZOS).
                    filter = Filter.BICUBIC;
                    break;
                case BOX:
                case HAMMING:
                    throw new ImageException("resample " + filter + " has no torchvision tensor equivalent; use the PIL backend");
                default:
                    break;
            }
        } else if (filter == Filter.NEAREST) {
            return nearest(in, outWidth, outHeight);
        }

        Coefficients horiz = Coefficients.of(in.width(), outWidth, filter, backend);
        Coefficients vert = Coefficients.of(in.height(), outHeight, filter, backend);
        boolean needHorizontal = outWidth != in.width();
        boolean needVertical = outHeight != in.height();
        RgbImage img = in;
        if (needHorizontal) {
            // Only the source rows the vertical pass reads are resampled horizontally (Pillow's ybox_first/last).
            int first = vert.min[0];
            int last = vert.min[outHeight - 1] + vert.size[outHeight - 1];
            img = horizontal(in, first, last - first, horiz);
            if (needVertical) for (int i = 0; i < outHeight; i++) vert.min[i] -= first;
        }
        if (needVertical) img = vertical(img, outHeight, vert);
        return img;
    }

    /** Per output pixel: first source index, number of taps, and fixed-point weights with {@code bits} fractional bits. */
    private static final class Coefficients {
        final int[] min;
        final int[] size;
        final int[] k;
        final int ksize;
        final int bits;

        private Coefficients(int[] min, int[] size, int[] k, int ksize, int bits) {
            this.min = min;
            this.size = size;
            this.k = k;
            this.ksize = ksize;
            this.bits = bits;
        }

        static Coefficients of(int inSize, int outSize, Filter filter, Backend backend) {
            double scale = (double) inSize / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = filter.support * filterScale;
            int ksize = (int) Math.ceil(support) * 2 + 1;
            int[] min = new int[outSize];
            int[] size = new int[outSize];
            double[] w = new double[outSize * ksize];
            double ss = 1.0 / filterScale;
            double wMax = 0.0;
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale;
                int xmin = Math.max((int) (center - support + 0.5), 0);
                // torch clips the tap count to ksize (a rare rounding case); Pillow's bound never exceeds it.
                int xmax = Math.min(Math.min((int) (center + support + 0.5), inSize) - xmin, ksize);
                double total = 0.0;
                for (int x = 0; x < xmax; x++) {
                    double v = filter.weight((x + xmin - center + 0.5) * ss);
                    w[xx * ksize + x] = v;
                    total += v;
                }
                if (total != 0.0) {
                    for (int x = 0; x < xmax; x++) {
                        w[xx * ksize + x] /= total;
                        wMax = Math.max(wMax, w[xx * ksize + x]);
                    }
                }
                min[xx] = xmin;
                size[xx] = xmax;
            }
            int bits = backend == Backend.PIL ? PRECISION_BITS : int16Precision(wMax);
            int[] k = new int[outSize * ksize];
            for (int i = 0; i < k.length; i++) {
                // round half away from zero (normalize_coeffs_8bpc; the int16 conversion of torch)
                double v = w[i] * (1 << bits);
                k[i] = v < 0 ? (int) (-0.5 + v) : (int) (0.5 + v);
            }
            return new Coefficients(min, size, k, ksize, bits);
        }

        /** torch: the largest precision below 22 bits for which the largest weight, rounded, stays below 2^15. */
        private static int int16Precision(double wMax) {
            int p;
            for (p = 0; p < 22; p++) {
                int next = (int) (0.5 + wMax * (1 << (p + 1)));
                if (next >= (1 << 15)) break;
            }
            return p;
        }
    }

    private static RgbImage horizontal(RgbImage in, int rowOffset, int rows, Coefficients c) {
        int outWidth = c.min.length;
        int inWidth = in.width();
        byte[] src = in.bytes();
        byte[] dst = new byte[outWidth * rows * 3];
        for (int y = 0; y < rows; y++) {
            int rowBase = (y + rowOffset) * inWidth * 3;
            for (int xx = 0; xx < outWidth; xx++) {
                int kBase = xx * c.ksize;
                int xmin = c.min[xx];
                int n = c.size[xx];
                int s0 = 1 << (c.bits - 1);
                int s1 = s0;
                int s2 = s0;
                for (int x = 0; x < n; x++) {
                    int p = rowBase + (x + xmin) * 3;
                    int kw = c.k[kBase + x];
                    s0 += (src[p] & 0xFF) * kw;
                    s1 += (src[p + 1] & 0xFF) * kw;
                    s2 += (src[p + 2] & 0xFF) * kw;
                }
                int o = (y * outWidth + xx) * 3;
                dst[o] = clip8(s0, c.bits);
                dst[o + 1] = clip8(s1, c.bits);
                dst[o + 2] = clip8(s2, c.bits);
            }
        }
        return new RgbImage(outWidth, rows, dst);
    }

    private static RgbImage vertical(RgbImage in, int outHeight, Coefficients c) {
        int width = in.width();
        byte[] src = in.bytes();
        byte[] dst = new byte[width * outHeight * 3];
        for (int yy = 0; yy < outHeight; yy++) {
            int kBase = yy * c.ksize;
            int ymin = c.min[yy];
            int n = c.size[yy];
            for (int xx = 0; xx < width; xx++) {
                int s0 = 1 << (c.bits - 1);
                int s1 = s0;
                int s2 = s0;
                for (int y = 0; y < n; y++) {
                    int p = ((y + ymin) * width + xx) * 3;
                    int kw = c.k[kBase + y];
                    s0 += (src[p] & 0xFF) * kw;
                    s1 += (src[p + 1] & 0xFF) * kw;
                    s2 += (src[p + 2] & 0xFF) * kw;
                }
                int o = (yy * width + xx) * 3;
                dst[o] = clip8(s0, c.bits);
                dst[o + 1] = clip8(s1, c.bits);
                dst[o + 2] = clip8(s2, c.bits);
            }
        }
        return new RgbImage(width, outHeight, dst);
    }

    /** clip8 (Pillow) / saturating pack (torch): arithmetic shift (floor) out of fixed point, clamped to 0..255. */
    private static byte clip8(int acc, int bits) {
        int v = acc >> bits;
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    /**
     * ImagingScaleAffine (Pillow's NEAREST resize): source coordinate {@code (int)(scale · (x + 0.5))}, accumulated
     * by repeated addition exactly as Pillow does, so its rounding is reproduced.
     */
    private static RgbImage nearest(RgbImage in, int outWidth, int outHeight) {
        double ax = (double) in.width() / outWidth;
        double ay = (double) in.height() / outHeight;
        int[] xs = new int[outWidth];
        double xo = ax * 0.5;
        for (int x = 0; x < outWidth; x++) {
            xs[x] = Math.min(coord(xo), in.width() - 1);
            xo += ax;
        }
        byte[] src = in.bytes();
        byte[] dst = new byte[outWidth * outHeight * 3];
        double yo = ay * 0.5;
        for (int y = 0; y < outHeight; y++) {
            int sy = Math.min(coord(yo), in.height() - 1);
            for (int x = 0; x < outWidth; x++) {
                System.arraycopy(src, (sy * in.width() + xs[x]) * 3, dst, (y * outWidth + x) * 3, 3);
            }
            yo += ay;
        }
        return new RgbImage(outWidth, outHeight, dst);
    }

    /**
     * torch's legacy {@code nearest} (what torchvision's NEAREST maps to): source index
     * {@code min(floor(i · scale), in − 1)} with {@code scale = in / out} in float32, and the exact shortcut for ×2.
     */
    private static RgbImage torchNearest(RgbImage in, int outWidth, int outHeight) {
        int[] xs = torchNearestIndex(in.width(), outWidth);
        int[] ys = torchNearestIndex(in.height(), outHeight);
        byte[] src = in.bytes();
        byte[] dst = new byte[outWidth * outHeight * 3];
        for (int y = 0; y < outHeight; y++) {
            for (int x = 0; x < outWidth; x++) {
                System.arraycopy(src, (ys[y] * in.width() + xs[x]) * 3, dst, (y * outWidth + x) * 3, 3);
            }
        }
        return new RgbImage(outWidth, outHeight, dst);
    }

    private static int[] torchNearestIndex(int in, int out) {
        int[] idx = new int[out];
        float scale = (float) in / out;
        for (int i = 0; i < out; i++) {
            if (out == in) idx[i] = i;
            else if (out == 2 * in) idx[i] = i >> 1;
            else idx[i] = Math.min((int) Math.floor(i * scale), in - 1);
        }
        return idx;
    }

    private static int coord(double v) {
        return v < 0.0 ? -1 : (int) v;
    }
}
