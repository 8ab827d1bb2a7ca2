package org.mha2mla.core.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

class Fp16Test {

    @Test
    void knownBitPatterns() {
        assertEquals((short) 0x3c00, Fp16.fromFloat(1f));
        assertEquals((short) 0xc000, Fp16.fromFloat(-2f));
        assertEquals((short) 0x7bff, Fp16.fromFloat(65504f));
        assertEquals((short) 0x7c00, Fp16.fromFloat(65520f)); // halfway to 2^16 rounds to Inf
        assertEquals((short) 0x0001, Fp16.fromFloat(0x1p-24f)); // smallest subnormal
        assertEquals((short) 0x0400, Fp16.fromFloat(0x1p-14f)); // smallest normal
        assertEquals((short) 0x3c00, Fp16.fromFloat(1f + 0x1p-11f)); // tie → even (1.0)
        assertEquals((short) 0x3c02, Fp16.fromFloat(1f + 3 * 0x1p-11f)); // tie → even (1 + 2^-9)
        assertEquals(0.333251953125f, Fp16.toFloat(Fp16.fromFloat(1f / 3)));
        assertTrue(Float.isNaN(Fp16.toFloat(Fp16.fromFloat(Float.NaN))));
    }

    @Test
    void nearestRoundingAgreesWithNd4jHalfCast() {
        Random r = new Random(1);
        float[] x = new float[20000];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(9) - 6));
        }
        float[] nd = Nd4j.createFromArray(x).castTo(DataType.HALF).castTo(DataType.FLOAT).toFloatVector();
        for (int i = 0; i < x.length; i++) {
            assertEquals(nd[i], Fp16.toFloat(Fp16.fromFloat(x[i])), 0f, "x = " + x[i]);
        }
    }

    @Test
    void directedRoundingBracketsTheValueByOneUlp() {
        Random r = new Random(2);
        for (int i = 0; i < 5000; i++) {
            double x = r.nextGaussian() * Math.pow(10, r.nextInt(7) - 4);
            float down = Fp16.toFloat(Fp16.roundDown(x));
            float up = Fp16.toFloat(Fp16.roundUp(x));
            assertTrue(down <= x && x <= up, x + " not in [" + down + ", " + up + "]");
            if (down != up) {
                // adjacent halves: nothing representable strictly between them
                short next = Fp16.roundUp(Math.nextUp((double) down));
                assertEquals(up, Fp16.toFloat(next), 0f);
            }
        }
        assertEquals(0.5f, Fp16.toFloat(Fp16.roundDown(0.5)), 0f);
        assertThrows(IllegalArgumentException.class, () -> Fp16.roundUp(70000));
    }
}
