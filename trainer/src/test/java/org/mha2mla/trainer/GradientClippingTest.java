package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class GradientClippingTest {

    @Test
    void scalesAllGradientsByMaxNormOverTheGlobalNorm() {
        Map<String, INDArray> g = Map.of("a", Nd4j.createFromArray(3f, 4f), "b", Nd4j.createFromArray(new float[][]{{12f}}));
        assertEquals(13.0, GradientClipping.clipGlobalNorm(g, 6.5), 1e-6);   // √(9 + 16 + 144)
        double coef = 6.5 / (13 + 1e-6);
        assertEquals(3 * coef, g.get("a").getDouble(0), 1e-6);
        assertEquals(12 * coef, g.get("b").getDouble(0), 1e-6);
        assertEquals(6.5, GradientClipping.clipGlobalNorm(g, 100), 1e-5);    // the new norm; below the limit: untouched
        assertEquals(3 * coef, g.get("a").getDouble(0), 1e-6);
    }

    @Test
    void nonPositiveMaxNormDisablesClipping() {
        Map<String, INDArray> g = Map.of("a", Nd4j.createFromArray(30f, 40f));
        assertEquals(50.0, GradientClipping.clipGlobalNorm(g, 0), 1e-6);
        assertEquals(30.0, g.get("a").getDouble(0), 0);
    }

    @Test
    void namesTheNonFiniteGradientsAndWarnsInOneLine() {
        Map<String, INDArray> g = new LinkedHashMap<>();
        g.put("a", Nd4j.createFromArray(1f, 2f));
        g.put("b", Nd4j.createFromArray(1f, Float.NaN));
        g.put("c", Nd4j.createFromArray(Float.POSITIVE_INFINITY, 0f));
        assertEquals(Double.NaN, GradientClipping.clipGlobalNorm(g, 1.0), 0);
        assertEquals(List.of("b", "c"), GradientClipping.nonFinite(g));
        assertEquals(2.0, g.get("a").getDouble(1), 0, "a NaN norm scales nothing");
        assertEquals("pretraining update 7: non-finite gradient in b, c (loss 0.2500); update skipped, weights unchanged",
                GradientClipping.skipWarning("pretraining update 7", 0.25, List.of("b", "c")));
        assertEquals("u: non-finite gradient in p1, p2, p3, p4, p5 and 2 more (loss NaN); update skipped, weights unchanged",
                GradientClipping.skipWarning("u", Double.NaN, List.of("p1", "p2", "p3", "p4", "p5", "p6", "p7")));
    }
}
