package org.mha2mla.evaluation.synthetic;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Polygon;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.geom.Ellipse2D;
import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Locale;

/**
 * One picture of the synthetic shapes task: up to four flat-coloured shapes with a black outline on a neutral grey canvas, each inside
 * its own cell of a {@link #GRID}×{@link #GRID} grid (so shapes never overlap and, at 112 px, each cell is exactly one
 * merged 2×2 patch unit of Qwen2.5-VL: one image token per cell). Drawn without antialiasing, so every pixel of a
 * shape has the shape's exact colour.
 *
 * @param size  canvas side in pixels (a multiple of {@link #GRID})
 * @param items the shapes; no two share a cell or a (colour, shape) pair, so "the red circle" names one item
 */
public record Scene(int size, List<Item> items) {

    /** Cells per side. */
    public static final int GRID = 4;
    /**
     * The canvas colour: the CLIP/Qwen2-VL normalisation mean (0.481, 0.458, 0.408)·255, so after the image processor
     * the background is (almost exactly) zero and every patch that holds no shape enters the vision tower as a null
     * vector. A white canvas instead makes 12–15 of the 16 image tokens one large identical vector, which a model
     * trained from scratch learns to ignore, together with the shapes, before it learns to read them.
     */
    public static final Color BACKGROUND = new Color(123, 117, 104);
    /**
     * Width of the black outline every shape gets. The outline is the same for every colour, so the shape is a
     * linear feature of the pixels; without it the shape only shows multiplied by the colour (a blue square and a
     * red square share no pixel value), which a vision tower trained from scratch needs far longer to untangle.
     */
    public static final float OUTLINE = 2f;

    public enum Shape {
        SQUARE, CIRCLE, TRIANGLE;

        public String word() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The colours and their exact RGB values (well apart from each other and from the white background). */
    public enum Colour {
        RED(220, 30, 30), GREEN(30, 160, 50), BLUE(30, 70, 220), YELLOW(235, 200, 20), PURPLE(140, 50, 180);

        private final int rgb;

        Colour(int r, int g, int b) {
            this.rgb = (r << 16) | (g << 8) | b;
        }

        /** 0xRRGGBB. */
        public int rgb() {
            return rgb;
        }

        public String word() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * One shape: its cell (row, column from the top left), centre and side (bounding box) in pixels.
     */
    public record Item(Shape shape, Colour colour, int row, int col, int cx, int cy, int side) {

        /** e.g. "red circle". */
        public String name() {
            return colour.word() + " " + shape.word();
        }
    }

    public Scene {
        items = List.copyOf(items);
        if (size % GRID != 0) throw new IllegalArgumentException("canvas size " + size + " is not a multiple of the grid " + GRID);
    }

    /** The item's outline: its bounding box, the inscribed circle, or the triangle with the apex up and the base at the bottom. */
    static java.awt.Shape outline(Item it) {
        int half = it.side() / 2;
        int x0 = it.cx() - half;
        int y0 = it.cy() - half;
        return switch (it.shape()) {
            case SQUARE -> new Rectangle(x0, y0, it.side(), it.side());
            case CIRCLE -> new Ellipse2D.Float(x0, y0, it.side(), it.side());
            case TRIANGLE -> new Polygon(new int[] {it.cx(), x0, x0 + it.side()}, new int[] {y0, y0 + it.side(), y0 + it.side()}, 3);
        };
    }

    /** The picture as an RGB image. */
    public BufferedImage render() {
        BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_OFF);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_SPEED);
            g.setColor(BACKGROUND);
            g.fillRect(0, 0, size, size);
            g.setStroke(new BasicStroke(OUTLINE));
            for (Item it : items) {
                java.awt.Shape outline = outline(it);
                g.setColor(new Color(it.colour().rgb()));
                g.fill(outline);
                g.setColor(Color.BLACK);
                g.draw(outline);
            }
        } finally {
            g.dispose();
        }
        return img;
    }
}
