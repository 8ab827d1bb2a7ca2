package org.mha2mla.importers.image;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import java.util.Iterator;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * An 8-bit RGB image, what PIL's {@code Image.convert("RGB")} gives transformers' image processors: rows of
 * interleaved R, G, B bytes. The geometric steps of the processors (resize, crop, pad) work on this uint8
 * image, as PIL and torchvision do, so their rounding to uint8 between steps is reproduced.
 */
public final class RgbImage {

    /**
     * The largest image decoded, in pixels: Pillow's decompression-bomb error threshold ({@code 2 × MAX_IMAGE_PIXELS}
     * = 2 × 89,478,485), which transformers' processors meet when they open an image. A PNG of a few kilobytes can
     * declare 50,000 × 50,000 pixels (7.5 GB decoded).
     */
    public static final long MAX_PIXELS = 2L * 89_478_485;

    private final int width;
    private final int height;
    private final byte[] rgb;

    /** @param rgb {@code height · width · 3} bytes, row-major, channels interleaved (taken, not copied) */
    public RgbImage(int width, int height, byte[] rgb) {
        if (width <= 0 || height <= 0) throw new ImageException("image size must be positive, got " + width + "x" + height);
        if (rgb.length != (long) width * height * 3) {
            throw new ImageException("RGB buffer of a " + width + "x" + height + " image must hold " + (long) width * height * 3
                    + " bytes, got " + rgb.length);
        }
        this.width = width;
        this.height = height;
        this.rgb = rgb;
    }

    /** A black image (PIL's {@code Image.new("RGB", size)}). */
    public static RgbImage black(int width, int height) {
        return new RgbImage(width, height, new byte[width * height * 3]);
    }

    /** Reads a PNG, JPEG, BMP or GIF file; the exception names the file when it is missing, unreadable or corrupt. */
    public static RgbImage load(Path file) {
        if (!Files.isRegularFile(file)) throw new ImageException(file + ": image file not found");
        BufferedImage img;
        try {
            img = decode(file.toFile(), file.toString());
        } catch (IOException | RuntimeException e) {
            if (e instanceof ImageException) throw (ImageException) e;
            throw new ImageException(file + ": corrupt or unsupported image (" + e.getMessage() + ")", e);
        }
        if (img == null) throw new ImageException(file + ": not an image format ImageIO can decode (PNG, JPEG, BMP, GIF)");
        return of(img, file.toString());
    }

    /**
     * {@code ImageIO.read} of a file, stream or byte array ({@code input}), with the size the header declares checked
     * against {@link #MAX_PIXELS} before any pixel is decoded; null when no reader knows the format.
     */
    public static BufferedImage decode(Object input, String source) throws IOException {
        Object in = input instanceof byte[] b ? new java.io.ByteArrayInputStream(b) : input;
        try (ImageInputStream stream = ImageIO.createImageInputStream(in)) {
            if (stream == null) return null;
            Iterator<ImageReader> readers = ImageIO.getImageReaders(stream);
            if (!readers.hasNext()) return null;
            ImageReader reader = readers.next();
            try {
                reader.setInput(stream, true, true);
                long w = reader.getWidth(0);
                long h = reader.getHeight(0);
                if (w * h > MAX_PIXELS) {
                    throw new ImageException(source + ": the image declares " + w + " × " + h + " = " + w * h + " pixels, more than "
                            + MAX_PIXELS + " (Pillow's decompression-bomb limit)");
                }
                return reader.read(0, reader.getDefaultReadParam());
            } finally {
                reader.dispose();
            }
        }
    }

    /**
     * Converts like PIL's {@code convert("RGB")}: alpha is dropped (not composited), grey is replicated to the
     * three channels, palettes are looked up, and no colour management is applied (the raw samples are used;
     * Java's {@code getRGB} would gamma-convert grey images). 16-bit RGB keeps the high byte as PIL's PNG
     * decoder does; 16-bit grey is clipped at 255 as PIL's {@code I;16 → RGB} conversion does.
     *
     * @param source names the image in error messages
     */
    public static RgbImage of(BufferedImage img, String source) {
        int w = img.getWidth();
        int h = img.getHeight();
        byte[] out = new byte[w * h * 3];
        ColorModel cm = img.getColorModel();
        Raster raster = img.getRaster();
        int space = cm.getColorSpace().getType();
        if (cm instanceof IndexColorModel icm) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int argb = icm.getRGB(raster.getSample(x, y, 0));
                    put(out, (y * w + x) * 3, argb >> 16, argb >> 8, argb);
                }
            }
        } else if (space == ColorSpace.TYPE_GRAY && !cm.isAlphaPremultiplied()) {
            int bits = cm.getComponentSize(0);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int v = grey8(raster.getSample(x, y, 0), bits);
                    put(out, (y * w + x) * 3, v, v, v);
                }
            }
        } else if (space == ColorSpace.TYPE_RGB && raster.getNumBands() >= 3 && !cm.isAlphaPremultiplied()) {
            int shift = Math.max(0, cm.getComponentSize(0) - 8);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int i = (y * w + x) * 3;
                    put(out, i, raster.getSample(x, y, 0) >> shift, raster.getSample(x, y, 1) >> shift,
                            raster.getSample(x, y, 2) >> shift);
                }
            }
        } else if (space == ColorSpace.TYPE_RGB || space == ColorSpace.TYPE_GRAY) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int argb = img.getRGB(x, y);
                    put(out, (y * w + x) * 3, argb >> 16, argb >> 8, argb);
                }
            }
        } else {
            throw new ImageException(source + ": unsupported colour space (type " + space + ", " + raster.getNumBands()
                    + " bands); convert it to RGB first");
        }
        return new RgbImage(w, h, out);
    }

    private static int grey8(int sample, int bits) {
        if (bits == 8) return sample;
        if (bits > 8) return Math.min(sample, 255);
        return sample * 255 / ((1 << bits) - 1);
    }

    private static void put(byte[] out, int i, int r, int g, int b) {
        out[i] = (byte) r;
        out[i + 1] = (byte) g;
        out[i + 2] = (byte) b;
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /** Channel {@code c} (0 = R) of pixel (x, y), 0..255. */
    public int get(int x, int y, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xFF;
    }

    /** The backing bytes (row-major, interleaved RGB); not a copy. */
    byte[] bytes() {
        return rgb;
    }

    /** Resize to {@code newWidth × newHeight} as {@code backend} does it; the same size is a copy. */
    public RgbImage resize(int newWidth, int newHeight, Resampler.Filter filter, Resampler.Backend backend) {
        return Resampler.resize(this, newWidth, newHeight, filter, backend);
    }

    /**
     * The {@code w × h} window whose top-left corner is ({@code left}, {@code top}); parts outside the image
     * are black, as with PIL's {@code crop} and numpy zero padding.
     */
    public RgbImage crop(int left, int top, int w, int h) {
        byte[] out = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            int sy = y + top;
            if (sy < 0 || sy >= height) continue;
            for (int x = 0; x < w; x++) {
                int sx = x + left;
                if (sx < 0 || sx >= width) continue;
                System.arraycopy(rgb, (sy * width + sx) * 3, out, (y * w + x) * 3, 3);
            }
        }
        return new RgbImage(w, h, out);
    }

    /** This image on a black {@code w × h} canvas at ({@code left}, {@code top}) (zero padding). */
    public RgbImage padTo(int w, int h, int left, int top) {
        return crop(-left, -top, w, h);
    }

    /**
     * Rescaled and normalised channels-first floats {@code [3, H, W]}: {@code (v · rescale − mean[c]) / std[c]}
     * (transformers' rescale then normalize; computed in double, rounded once to float).
     *
     * @param out receives {@code 3·H·W} values at {@code offset}
     */
    public void toChannelsFirst(double rescale, double[] mean, double[] std, float[] out, int offset) {
        int plane = width * height;
        for (int c = 0; c < 3; c++) {
            double m = mean[c];
            double s = std[c];
            for (int p = 0; p < plane; p++) {
                out[offset + c * plane + p] = (float) (((rgb[p * 3 + c] & 0xFF) * rescale - m) / s);
            }
        }
    }

    @Override
    public String toString() {
        return "RgbImage[" + width + "x" + height + "]";
    }
}
