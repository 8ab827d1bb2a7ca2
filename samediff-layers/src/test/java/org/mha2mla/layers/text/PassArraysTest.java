package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Gradient passes whose arrays come from {@link PassArrays} equal, bit for bit, those of SameDiff's own memory manager
 * on a twin graph, pass after pass: with different inputs (a reused array holds the previous pass's values, so an op
 * that read its output before writing it would differ), and across a change of sequence length and back (once after
 * {@link PassArrays#clear}, once through {@link PassArrays#recycle}).
 */
class PassArraysTest {

    private static final int D = 6;

    /** A small attention-like block: linear, scores, softmax, weighted sum, linear, sum. */
    private static SameDiff graph() {
        Nd4j.getRandom().setSeed(11);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, D);
        SDVariable w = sd.var("w", Nd4j.rand(DataType.FLOAT, D, D).subi(0.5));
        SDVariable u = sd.var("u", Nd4j.rand(DataType.FLOAT, D, D).subi(0.5));
        SDVariable h = LinearMatmul.apply(sd, x, w);
        SDVariable probs = sd.nn().softmax(sd.mmul(h, x, false, true, false).mul(0.5), -1);
        SDVariable y = LinearMatmul.apply(sd, sd.math().tanh(sd.mmul(probs, h)), u);
        sd.setLossVariables(sd.sum("loss", y.mul(y), false, 0, 1));
        GradientGraph.build(sd);
        return sd;
    }

    private static Map<String, INDArray> pass(SameDiff sd, INDArray x) {
        return sd.calculateGradients(Map.of("x", x), "w", "u");
    }

    @Test
    void passesOnReusedArraysEqualPassesOnFreshOnes() {
        SameDiff reusing = graph();
        SameDiff fresh = graph();
        PassArrays arrays = new PassArrays();
        arrays.install(reusing.getFunction("grad"));
        Nd4j.getRandom().setSeed(5);
        List<INDArray> inputs = List.of(Nd4j.randn(DataType.FLOAT, 9, D), Nd4j.randn(DataType.FLOAT, 9, D),
                Nd4j.randn(DataType.FLOAT, 4, D), Nd4j.randn(DataType.FLOAT, 9, D), Nd4j.randn(DataType.FLOAT, 9, D));
        for (int i = 0; i < inputs.size(); i++) {
            arrays.install(reusing.getFunction("grad"));
            if (i == 2) arrays.clear();     // the caller's choice before a pass of other shapes; pass 3 recycles across shapes
            else arrays.recycle();
            long allocatedBefore = arrays.allocated();
            Map<String, INDArray> got = pass(reusing, inputs.get(i));
            if (i == 1 || i == 4) {
                // These follow a pass of the same shapes: every array they need is the previous pass's.
                assertEquals(allocatedBefore, arrays.allocated(), "pass " + i + " allocated fresh arrays");
            }
            Map<String, INDArray> want = pass(fresh, inputs.get(i));
            for (String n : List.of("w", "u")) {
                assertArrayEquals(want.get(n).dup().data().asFloat(), got.get(n).dup().data().asFloat(), "pass " + i + ", gradient of " + n);
                assertTrue(arrays.owns(got.get(n)), "pass " + i + ": the gradient array " + n + " is the manager's");
            }
        }
        assertTrue(arrays.reused() > 0, "no array was reused");
    }
}
