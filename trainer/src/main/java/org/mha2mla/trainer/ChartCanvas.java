package org.mha2mla.trainer;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import javax.imageio.ImageIO;

/**
 * The Java2D canvas the project's PNG charts share (the loss curve here, the demo's accuracy-vs-KV plot): a white
 * image with a grey frame around the plot area, antialiased, written with ImageIO. Plain JDK rather than a plotting
 * library: a few charts need none, and the JDK draws them headless.
 */
public final class ChartCanvas {

    private final BufferedImage image;
    private final Graphics2D graphics;
    private final int left;
    private final int top;
    private final int plotWidth;
    private final int plotHeight;

    /** An image of {@code width}×{@code height} with the plot area inset by the given margins. */
    public ChartCanvas(int width, int height, int left, int right, int top, int bottom) {
        this.image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        this.graphics = image.createGraphics();
        this.left = left;
        this.top = top;
        this.plotWidth = width - left - right;
        this.plotHeight = height - top - bottom;
        graphics.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        graphics.setColor(Color.WHITE);
        graphics.fillRect(0, 0, width, height);
        graphics.setColor(Color.GRAY);
        graphics.drawRect(left, top, plotWidth, plotHeight);
    }

    public Graphics2D graphics() {
        return graphics;
    }

    public int plotWidth() {
        return plotWidth;
    }

    public int plotHeight() {
        return plotHeight;
    }

    /** A JRE without fontconfig throws on the first glyph: probe once, so text is drawn only where it works. */
    public boolean fontsAvailable() {
        try {
            graphics.getFontMetrics().stringWidth("0");
            return true;
        } catch (RuntimeException | Error e) {
            return false;
        }
    }

    /** Finishes drawing and writes the PNG (creating its folder); {@code what} names the chart in the error. */
    public void write(Path png, String what) {
        graphics.dispose();
        try {
            Files.createDirectories(png.toAbsolutePath().getParent());
            ImageIO.write(image, "png", png.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(png + ": cannot write the " + what, e);
        }
    }
}
