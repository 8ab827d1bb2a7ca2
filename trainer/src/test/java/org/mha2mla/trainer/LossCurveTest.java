package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LossCurveTest {

    @TempDir
    Path tmp;

    @Test
    void drawsTheLossFromTopLeftToBottomRight() throws IOException {
        List<LossLog.Row> rows = new ArrayList<>();
        for (long s = 1; s <= 10; s++) rows.add(new LossLog.Row(s, 11 - s, 1e-3, 1, 10, 10, s));
        Path png = tmp.resolve("curve.png");
        LossCurve.write(rows, png, "test");
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(LossCurve.WIDTH, img.getWidth());
        assertEquals(LossCurve.HEIGHT, img.getHeight());
        // A falling straight line: blue near the top-left corner of the plot area and near the bottom-right one,
        // nothing blue in the top-right one.
        assertTrue(blueNear(img, 82, 78), "start of the curve");
        assertTrue(blueNear(img, 900 - 92, 540 - 85), "end of the curve");
        assertTrue(!blueNear(img, 900 - 120, 80), "no curve top-right");
    }

    private static boolean blueNear(BufferedImage img, int x, int y) {
        for (int dx = -12; dx <= 12; dx++) {
            for (int dy = -12; dy <= 12; dy++) {
                Color c = new Color(img.getRGB(x + dx, y + dy));
                if (c.getBlue() > 150 && c.getRed() < 100) return true;
            }
        }
        return false;
    }
}
