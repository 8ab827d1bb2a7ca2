package org.mha2mla.evaluation.synthetic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.mha2mla.evaluation.synthetic.Scene.Colour;
import org.mha2mla.evaluation.synthetic.Scene.Item;
import org.mha2mla.evaluation.synthetic.Scene.Shape;

class SceneTest {

    static final int BG = Scene.BACKGROUND.getRGB() & 0xffffff;

    static int rgb(BufferedImage img, int x, int y) {
        return img.getRGB(x, y) & 0xffffff;
    }

    @Test
    void everyShapeIsFilledWithItsExactColourOutlinedInBlackAndNothingElseIsTouched() {
        Scene s = new Scene(112, List.of(new Item(Shape.SQUARE, Colour.RED, 0, 0, 14, 14, 20),
                new Item(Shape.CIRCLE, Colour.BLUE, 1, 2, 70, 42, 20), new Item(Shape.TRIANGLE, Colour.YELLOW, 3, 3, 98, 98, 20)));
        BufferedImage img = s.render();
        for (Item it : s.items()) assertEquals(it.colour().rgb(), rgb(img, it.cx(), it.cy()), it.name() + " centre");
        // A square fills its bounding-box corners, a circle and a triangle leave them empty.
        assertEquals(Colour.RED.rgb(), rgb(img, 14 - 9, 14 - 9));
        assertEquals(BG, rgb(img, 70 - 9, 42 - 9));
        assertEquals(BG, rgb(img, 98 - 9, 98 - 9));
        // The triangle's inside near its base has its colour; its apex row leaves the bounding-box corner empty.
        assertEquals(Colour.YELLOW.rgb(), rgb(img, 98 - 6, 98 + 7));
        // Every shape has a black outline on its boundary (the square's left edge, the circle's top, the triangle's base).
        assertEquals(0, rgb(img, 14 - 10, 14));
        assertEquals(0, rgb(img, 70, 42 - 10));
        assertEquals(0, rgb(img, 98, 98 + 9));
        // Outside every cell that holds a shape the canvas is the background.
        for (int y = 0; y < 112; y += 3) {
            for (int x = 0; x < 112; x += 3) {
                int row = y / 28, col = x / 28;
                boolean occupied = (row == 0 && col == 0) || (row == 1 && col == 2) || (row == 3 && col == 3);
                if (!occupied) assertEquals(BG, rgb(img, x, y), "pixel " + x + "," + y);
            }
        }
    }

    @Test
    void coloursAreDistinctWords() {
        assertEquals("red circle", new Item(Shape.CIRCLE, Colour.RED, 0, 0, 14, 14, 16).name());
        assertEquals(5, java.util.Arrays.stream(Colour.values()).mapToInt(Colour::rgb).distinct().count());
        assertThrows(IllegalArgumentException.class, () -> new Scene(110, List.of()));
    }
}
