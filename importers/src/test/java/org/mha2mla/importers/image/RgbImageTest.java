package org.mha2mla.importers.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.HfFixtures;

class RgbImageTest {

    @TempDir
    Path tmp;

    @Test
    void loadsTheFixturePngAtItsSize() {
        RgbImage img = RgbImage.load(HfFixtures.dir("llava").resolve("image0.png"));
        assertEquals(137, img.width());
        assertEquals(101, img.height());
    }

    @Test
    void truncatedMissingAndNonImageFilesNameTheFile() throws IOException {
        Path png = HfFixtures.dir("llava").resolve("image0.png");
        byte[] bytes = Files.readAllBytes(png);
        Path cut = tmp.resolve("cut.png");
        Files.write(cut, Arrays.copyOf(bytes, bytes.length / 3));
        ImageException e = assertThrows(ImageException.class, () -> RgbImage.load(cut));
        assertTrue(e.getMessage().contains("cut.png") && e.getMessage().contains("corrupt"), e.getMessage());

        Path text = Files.writeString(tmp.resolve("notes.jpg"), "not an image");
        e = assertThrows(ImageException.class, () -> RgbImage.load(text));
        assertTrue(e.getMessage().contains("notes.jpg"), e.getMessage());

        e = assertThrows(ImageException.class, () -> RgbImage.load(tmp.resolve("absent.png")));
        assertTrue(e.getMessage().contains("absent.png") && e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void convertsLikePilConvertRgb() throws IOException {
        // Grey is replicated as is (Java's getRGB would gamma-correct 100 to about 167).
        BufferedImage grey = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_GRAY);
        grey.getRaster().setSample(0, 0, 0, 100);
        grey.getRaster().setSample(1, 0, 0, 7);
        Path g = tmp.resolve("grey.png");
        ImageIO.write(grey, "png", g.toFile());
        RgbImage gi = RgbImage.load(g);
        assertEquals(100, gi.get(0, 0, 0));
        assertEquals(100, gi.get(0, 0, 2));
        assertEquals(7, gi.get(1, 0, 1));

        // RGBA: alpha is dropped, not composited.
        BufferedImage rgba = new BufferedImage(1, 1, BufferedImage.TYPE_INT_ARGB);
        rgba.setRGB(0, 0, (10 << 24) | (200 << 16) | (100 << 8) | 50);
        RgbImage ri = RgbImage.of(rgba, "rgba");
        assertEquals(200, ri.get(0, 0, 0));
        assertEquals(100, ri.get(0, 0, 1));
        assertEquals(50, ri.get(0, 0, 2));

        // Palette images are looked up.
        IndexColorModel palette = new IndexColorModel(8, 2, new byte[]{0, (byte) 255}, new byte[]{0, 10}, new byte[]{0, 20});
        BufferedImage indexed = new BufferedImage(1, 1, BufferedImage.TYPE_BYTE_INDEXED, palette);
        indexed.getRaster().setSample(0, 0, 0, 1);
        RgbImage pi = RgbImage.of(indexed, "indexed");
        assertEquals(255, pi.get(0, 0, 0));
        assertEquals(10, pi.get(0, 0, 1));
        assertEquals(20, pi.get(0, 0, 2));
    }

    @Test
    void cropOutsideTheImageIsBlackAndPadCentres() {
        byte[] b = new byte[2 * 2 * 3];
        Arrays.fill(b, (byte) 9);
        RgbImage img = new RgbImage(2, 2, b);
        RgbImage padded = img.padTo(4, 3, 1, 0);
        assertEquals(0, padded.get(0, 0, 0));
        assertEquals(9, padded.get(1, 0, 0));
        assertEquals(9, padded.get(2, 1, 2));
        assertEquals(0, padded.get(3, 1, 0));
        assertEquals(0, padded.get(1, 2, 0));
        assertThrows(ImageException.class, () -> new RgbImage(2, 2, new byte[5]));
    }

    @Test
    void normalisesChannelsFirst() {
        RgbImage img = new RgbImage(1, 1, new byte[]{(byte) 255, 0, (byte) 128});
        float[] out = new float[3];
        img.toChannelsFirst(1 / 255.0, new double[]{0.5, 0.5, 0.5}, new double[]{0.5, 0.25, 0.5}, out, 0);
        assertEquals(1.0f, out[0], 1e-6);
        assertEquals(-2.0f, out[1], 1e-6);
        assertEquals((128 / 255.0 - 0.5) / 0.5, out[2], 1e-6);
    }
    /**
     * A PNG of a few bytes that declares 50,000 × 50,000 pixels (7.5 GB decoded) is refused from its header, before any
     * allocation, as Pillow's decompression-bomb check refuses it; a declared size within the bound still decodes.
     */
    @Test
    void anImageDeclaringMorePixelsThanPillowAllowsIsRefusedBeforeDecoding() throws IOException {
        Path small = tmp.resolve("small.png");
        ImageIO.write(new BufferedImage(2, 2, BufferedImage.TYPE_INT_RGB), "png", small.toFile());
        byte[] png = Files.readAllBytes(small);
        // IHDR: bytes 16..19 width, 20..23 height (big-endian), CRC over "IHDR" + data at 29..32.
        java.nio.ByteBuffer.wrap(png).putInt(16, 50_000).putInt(20, 50_000);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(png, 12, 17);
        java.nio.ByteBuffer.wrap(png).putInt(29, (int) crc.getValue());
        Path bomb = tmp.resolve("bomb.png");
        Files.write(bomb, png);
        ImageException e = assertThrows(ImageException.class, () -> RgbImage.load(bomb));
        assertEquals(bomb + ": the image declares 50000 × 50000 = 2500000000 pixels, more than 178956970 (Pillow's decompression-bomb "
                + "limit)", e.getMessage());
        assertEquals(2, RgbImage.load(small).width());
    }
}
