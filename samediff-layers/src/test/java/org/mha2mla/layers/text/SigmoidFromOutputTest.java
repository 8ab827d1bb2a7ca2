package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * σ differentiated from its output against ND4J's own sigmoid and {@code sigmoid_bp}: the same values and gradients
 * bit for bit, inside a graph whose gradient SameDiff builds by cloning the op (its registration), and the gradient
 * against the closed form in double precision.
 */
class SigmoidFromOutputTest {

    /** loss = Σ w ⊙ x ⊙ σ(x) (the SiLU times fixed weights), its value at x and dL/dx, σ built by {@code sigmoid}. */
    private static List<INDArray> lossAndGradient(INDArray xs, INDArray w, BiFunction<SameDiff, SDVariable, SDVariable> sigmoid) {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.var("x", xs.dup());
        SDVariable y = x.mul("y", sigmoid.apply(sd, x));
        y.mul(sd.constant(w)).sum("loss");
        sd.setLossVariables("loss");
        INDArray g = sd.calculateGradients(Map.of(), "x").get("x");
        return List.of(sd.output(Map.of(), "y").get("y"), g);
    }

    @Test
    void valuesAndGradientsAreNd4jsSigmoidsBitForBit() {
        // Both tails (σ saturates, σ(1 − σ) underflows), the middle, and a [64, 300] block of N(0, 4²) values
        INDArray xs = Nd4j.concat(0, Nd4j.createFromArray(new float[]{-100, -60, -45, -20, -8, -1e-3f, 0, 1e-3f, 8, 20, 45, 60, 100}),
                Nd4j.randn(DataType.FLOAT, 64 * 300).muli(4));
        INDArray w = Nd4j.randn(DataType.FLOAT, xs.length());
        List<INDArray> ours = lossAndGradient(xs, w, SigmoidFromOutput::apply);
        List<INDArray> nd4j = lossAndGradient(xs, w, (sd, x) -> sd.nn().sigmoid(x));
        assertArrayEquals(bits(nd4j.get(0)), bits(ours.get(0)), "x·σ(x)");
        assertArrayEquals(bits(nd4j.get(1)), bits(ours.get(1)), "dL/dx");
        for (int i = 0; i < xs.length(); i++) {
            double x = xs.getDouble(i);
            double s = 1 / (1 + Math.exp(-x));
            double exact = w.getDouble(i) * s * (1 + x * (1 - s));
            double g = ours.get(1).getDouble(i);
            assertTrue(Math.abs(g - exact) <= 1e-6 * (1 + Math.abs(exact)), "dL/dx at " + x + ": " + g + ", exact " + exact);
        }
    }

    private static int[] bits(INDArray a) {
        float[] v = a.dup().data().asFloat();
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
        return b;
    }

    @Test
    void theOpSurvivesSameDiffsCloneWithItsOwnGradient() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.var("x", Nd4j.createFromArray(0.5f, -2f));
        SigmoidFromOutput.apply(sd, x).sum("loss");
        sd.setLossVariables("loss");
        sd.calculateGradients(Map.of(), "x");
        var ops = sd.getFunction("grad").ops();
        List<String> names = java.util.Arrays.stream(ops).map(op -> op.opName()).toList();
        assertTrue(names.contains(SigmoidFromOutput.OP_NAME), "forward op in the gradient graph: " + names);
        assertTrue(!names.contains("sigmoid_bp"), "no sigmoid_bp: " + names);
    }
}
