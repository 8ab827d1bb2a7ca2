package org.mha2mla.core.rope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class RopeTest {

    @Test
    void inverseFrequenciesFollowBasePowerMinusTwoKOverD() {
        float[] inv = Rope.invFreq(128, 500000.0);
        assertEquals(64, inv.length);
        for (int k = 0; k < 64; k++) {
            double expected = Math.pow(500000.0, -2.0 * k / 128);
            assertEquals(expected, inv[k], expected * 2e-7, "theta_" + k);
        }
        assertEquals(1.0f, inv[0]); // pair 0 is the highest frequency
        assertThrows(IllegalArgumentException.class, () -> Rope.invFreq(7, 10000));
    }

    @Test
    void rotatesPairKAndKPlusHalfByHandComputedAngles() {
        // d_h = 4, base 100: θ_0 = 1, θ_1 = 100^(-1/2) = 0.1. Position 2 → angles 2 and 0.2.
        // Pairs are (x0, x2) and (x1, x3) (rotate_half layout), not adjacent dims.
        CosSin cs = Rope.cosSin(new long[] {2}, 4, 100);
        INDArray x = Nd4j.createFromArray(new float[][] {{1, 2, 3, 4}});
        float[] out = Rope.applyRotary(x, cs.cos(), cs.sin()).toFloatVector();
        double[] expected = {
            1 * Math.cos(2) - 3 * Math.sin(2),
            2 * Math.cos(0.2) - 4 * Math.sin(0.2),
            3 * Math.cos(2) + 1 * Math.sin(2),
            4 * Math.cos(0.2) + 2 * Math.sin(0.2)};
        for (int i = 0; i < 4; i++) {
            assertEquals(expected[i], out[i], 1e-6, "dim " + i);
        }
        assertArrayEquals(new float[] {-3, -4, 1, 2}, Rope.rotateHalf(x).toFloatVector());
    }

    @Test
    void attentionScoreDependsOnlyOnRelativePosition() {
        int d = 64;
        Random r = new Random(3);
        double[][] qv = new double[1][d];
        double[][] kv = new double[1][d];
        for (int i = 0; i < d; i++) {
            qv[0][i] = r.nextGaussian();
            kv[0][i] = r.nextGaussian();
        }
        INDArray q = Nd4j.createFromArray(qv);
        INDArray k = Nd4j.createFromArray(kv);
        long[][] pairs = {{7, 2}, {107, 102}, {1005, 1000}, {3, 8}, {1003, 1008}};
        double[] scores = new double[pairs.length];
        for (int i = 0; i < pairs.length; i++) {
            CosSin cq = Rope.cosSin(new long[] {pairs[i][0]}, d, 10000);
            CosSin ck = Rope.cosSin(new long[] {pairs[i][1]}, d, 10000);
            INDArray qr = Rope.applyRotary(q, cq.cos().castTo(DataType.DOUBLE), cq.sin().castTo(DataType.DOUBLE));
            INDArray kr = Rope.applyRotary(k, ck.cos().castTo(DataType.DOUBLE), ck.sin().castTo(DataType.DOUBLE));
            scores[i] = qr.mul(kr).sumNumber().doubleValue();
        }
        // Float32 angle tables: the error grows with |position| (ulp(1000) ≈ 6e-5 rad).
        assertEquals(scores[0], scores[1], 1e-4 * Math.abs(scores[0]) + 1e-4);
        assertEquals(scores[0], scores[2], 1e-3 * Math.abs(scores[0]) + 1e-3);
        assertEquals(scores[3], scores[4], 1e-3 * Math.abs(scores[3]) + 1e-3);
        // ... and the offset sign matters (RoPE is not symmetric in m − n).
        org.junit.jupiter.api.Assertions.assertTrue(Math.abs(scores[0] - scores[3]) > 1e-3);
    }

    @Test
    void rotationPreservesPairNormsAndBroadcastsOverHeads() {
        int d = 16;
        INDArray x = Nd4j.rand(DataType.DOUBLE, 3, 5, d).subi(0.5); // [heads, L, d_h]
        CosSin cs = Rope.cosSin(10, 5, d, 10000);
        assertArrayEquals(new long[] {5, d}, cs.cos().shape());
        INDArray y = Rope.applyRotary(x, cs.cos(), cs.sin());
        for (int h = 0; h < 3; h++) {
            for (int l = 0; l < 5; l++) {
                for (int p = 0; p < d / 2; p++) {
                    double before = Math.hypot(x.getDouble(h, l, p), x.getDouble(h, l, p + d / 2));
                    double after = Math.hypot(y.getDouble(h, l, p), y.getDouble(h, l, p + d / 2));
                    assertEquals(before, after, 1e-6);
                }
            }
        }
        // position 10 is row 0 of the table
        assertEquals((float) Math.cos(10.0), cs.cos().getFloat(0, 0), 1e-6);
        assertEquals(cs.cos().getFloat(3, 2), cs.cos().getFloat(3, 2 + d / 2));
        assertThrows(IllegalArgumentException.class,
                () -> Rope.applyRotary(Nd4j.zeros(DataType.DOUBLE, 4, d), cs.cos(), cs.sin()));
    }
}
