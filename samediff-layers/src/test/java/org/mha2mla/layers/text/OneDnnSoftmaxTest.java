package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link OneDnnSoftmax}: in a graph carrying it, softmax is bit for bit the oneDNN helper's result and the matmul bit
 * for bit ND4J's own (each op also run alone with helpers on and off as the references), and the softmax equals the
 * closed form in float64 to float32 rounding. The inputs are chosen so that the two implementations differ, which the
 * test checks first: otherwise it could not tell which one ran.
 */
class OneDnnSoftmaxTest {

    private static final int ROWS = 512;
    private static final int COLS = 300;
    private static final int OUT = 96;

    @Test
    void softmaxRunsOnOneDnnAndTheMatmulOnNd4j() throws Exception {
        Nd4j.getRandom().setSeed(7);
        // Attention's shape, [B, heads, L, T]: oneDNN's helper takes softmax over the last axis of arrays of rank 3 and
        // more (a rank-2 softmax runs on ND4J's own code either way).
        INDArray scores = Nd4j.randn(DataType.FLOAT, 2, 4, ROWS / 8, COLS).muli(4);
        INDArray x = scores.reshape(ROWS, COLS);
        INDArray w = Nd4j.randn(DataType.FLOAT, COLS, OUT).muli(0.05);

        INDArray softmaxHelper = alone("softmax", true, scores);
        INDArray softmaxNd4j = alone("softmax", false, scores);
        INDArray matmulHelper = alone("matmul", true, x, w);
        INDArray matmulNd4j = alone("matmul", false, x, w);
        assertFalse(bitwise(softmaxHelper, softmaxNd4j), "the two softmax implementations agree bit for bit on this input");
        assertFalse(bitwise(matmulHelper, matmulNd4j), "the two matmul implementations agree bit for bit on this input");

        SameDiff sd = SameDiff.create();
        OneDnnSoftmax.attachTo(sd);
        SDVariable s = sd.placeHolder("scores", DataType.FLOAT, -1, -1, -1, COLS);
        SDVariable in = sd.placeHolder("x", DataType.FLOAT, -1, COLS);
        sd.nn().softmax("probs", s, -1);
        sd.mmul("product", in, sd.constant("w", w));
        Map<String, INDArray> out = sd.output(Map.of("scores", scores, "x", x), "probs", "product");

        assertTrue(bitwise(softmaxHelper, out.get("probs")), "graph softmax = oneDNN's");
        assertTrue(bitwise(matmulNd4j, out.get("product")), "graph matmul = ND4J's own");
        double[][] rows = x.toDoubleMatrix();
        float[][] probs = out.get("probs").reshape(ROWS, COLS).toFloatMatrix();
        for (int r = 0; r < ROWS; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (double v : rows[r]) max = Math.max(max, v);
            double sum = 0;
            for (double v : rows[r]) sum += Math.exp(v - max);
            for (int c = 0; c < COLS; c++) {
                double expected = Math.exp(rows[r][c] - max) / sum;
                assertEquals(expected, probs[r][c], 1e-6 * expected + 1e-9, "probs[" + r + ", " + c + "]");
            }
        }
    }

    /** Equal bit for bit (INDArray.equals allows a tolerance). */
    private static boolean bitwise(INDArray a, INDArray b) {
        return Arrays.equals(a.dup('c').data().asFloat(), b.dup('c').data().asFloat());
    }

    /** One ND4J op on {@code inputs}, its context allowing oneDNN's helper or not. */
    private static INDArray alone(String op, boolean helpers, INDArray... inputs) throws Exception {
        CustomOp c = DynamicCustomOp.builder(op).addInputs(inputs).build();
        INDArray out = Nd4j.create(DataType.FLOAT, c.calculateOutputShape().get(0).getShape());
        try (OpContext ctx = Nd4j.getExecutioner().buildContext()) {
            ctx.setInputArrays(inputs);
            ctx.setOutputArrays(out);
            if (op.equals("softmax")) ctx.setIArguments(-1);
            ctx.allowHelpers(helpers);
            Nd4j.getExecutioner().exec(c, ctx);
        }
        return out;
    }
}
