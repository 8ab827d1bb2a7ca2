package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.Rope;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The in-graph rotation against core's reference apply_rotary_pos_emb, and the rotation as pair-wise 2-D rotations. */
class RotaryEmbeddingTest {

    @Test
    void graphRotationEqualsCoreReference() {
        INDArray x = Nd4j.randn(DataType.FLOAT, 2, 3, 6, 8);
        CosSin t = Rope.cosSin(3, 6, 8, 10000.0);
        RopeTables tables = RopeTables.of(t);
        SameDiff sd = SameDiff.create();
        RotaryEmbedding.apply(sd, "y", sd.placeHolder("x", DataType.FLOAT, -1, -1, -1, 8),
                sd.placeHolder("cos", DataType.FLOAT, -1, -1, -1, 8), sd.placeHolder("sin", DataType.FLOAT, -1, -1, -1, 8));
        INDArray y = sd.output(Map.of("x", x, "cos", tables.cos(), "sin", tables.sin()), "y").get("y");
        assertTrue(y.sub(Rope.applyRotary(x, t.cos(), t.sin())).amaxNumber().doubleValue() < 1e-6);

        // pair k = dims {k, k + 4}: a plane rotation by angle (3 + t)·θ_k
        int b = 1, h = 2, pos = 4, k = 1;
        double angle = (3 + pos) * Math.pow(10000.0, -2.0 * k / 8);
        double x1 = x.getDouble(b, h, pos, k), x2 = x.getDouble(b, h, pos, k + 4);
        assertTrue(Math.abs(y.getDouble(b, h, pos, k) - (x1 * Math.cos(angle) - x2 * Math.sin(angle))) < 1e-5);
        assertTrue(Math.abs(y.getDouble(b, h, pos, k + 4) - (x2 * Math.cos(angle) + x1 * Math.sin(angle))) < 1e-5);
    }
}
