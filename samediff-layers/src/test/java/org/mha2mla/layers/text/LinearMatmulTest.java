package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The loss {@code Σ (x·Wᵀ) ⊙ C} has the closed-form gradients dL/dx = C·W and dL/dW = Cᵀ·x. Checked for a frozen
 * weight (placeholder, constant: only dL/dx, and no {@code matmul_bp} in the gradient graph) and a trainable one.
 */
class LinearMatmulTest {

    private static final int N = 7;
    private static final int IN = 5;
    private static final int OUT = 4;

    private record Graph(SameDiff sd, INDArray x, INDArray w, INDArray c) {
    }

    /** x is a variable; W is a placeholder, a constant or a variable by {@code kind}. */
    private static Graph graph(String kind) {
        Nd4j.getRandom().setSeed(3);
        INDArray x = Nd4j.rand(DataType.FLOAT, N, IN).subi(0.5);
        INDArray w = Nd4j.rand(DataType.FLOAT, OUT, IN).subi(0.5);
        INDArray c = Nd4j.rand(DataType.FLOAT, N, OUT).subi(0.5);
        SameDiff sd = SameDiff.create();
        SDVariable xv = sd.var("x", x);
        SDVariable wv = switch (kind) {
            case "placeholder" -> sd.placeHolder("w", DataType.FLOAT, OUT, IN);
            case "constant" -> sd.constant("w", w);
            default -> sd.var("w", w);
        };
        SDVariable y = sd.identity("y", LinearMatmul.apply(sd, xv, wv));
        sd.sum("loss", y.mul(sd.constant("c", c)));
        sd.setLossVariables("loss");
        GradientGraph.build(sd);
        return new Graph(sd, x, w, c);
    }

    private static Map<String, INDArray> gradients(Graph g, String kind, String... of) {
        Map<String, INDArray> feed = new HashMap<>();
        if (kind.equals("placeholder")) feed.put("w", g.w());
        return g.sd().calculateGradients(feed, of);
    }

    private static List<String> gradientOps(SameDiff sd) {
        return java.util.Arrays.stream(sd.getFunction("grad").ops()).map(DifferentialFunction::opName).toList();
    }

    private static double relativeError(INDArray actual, INDArray expected) {
        return actual.sub(expected).norm2Number().doubleValue() / expected.norm2Number().doubleValue();
    }

    @Test
    void aFrozenWeightGetsNoGradientAndTheInputsOneIsExact() {
        for (String kind : List.of("placeholder", "constant")) {
            Graph g = graph(kind);
            Map<String, INDArray> grads = gradients(g, kind, "x");
            double err = relativeError(grads.get("x"), g.c().mmul(g.w()));
            assertTrue(err < 1e-6, kind + ": dL/dx off by " + err);
            List<String> ops = gradientOps(g.sd());
            assertFalse(ops.contains("matmul_bp"), kind + ": the gradient graph still forms dL/dW: " + ops);
            assertTrue(ops.contains(LinearMatmul.OP_NAME), kind + ": " + ops);
            assertNull(g.sd().getVariable("w").gradient(), kind + ": the weight has a gradient variable");
        }
    }

    @Test
    void aTrainableWeightGetsBothGradients() {
        Graph g = graph("variable");
        Map<String, INDArray> grads = gradients(g, "variable", "x", "w");
        assertTrue(relativeError(grads.get("x"), g.c().mmul(g.w())) < 1e-6);
        assertTrue(relativeError(grads.get("w"), g.c().transpose().mmul(g.x())) < 1e-6);
        assertTrue(gradientOps(g.sd()).contains("matmul_bp"), gradientOps(g.sd()).toString());
    }

    @Test
    void theForwardPassIsTheNativeMatmul() {
        Graph g = graph("variable");
        INDArray y = g.sd().output(Map.of(), "y").get("y");
        assertEquals(0.0, y.sub(g.x().mmul(g.w().transpose())).amaxNumber().doubleValue(), 1e-6);
    }
}
