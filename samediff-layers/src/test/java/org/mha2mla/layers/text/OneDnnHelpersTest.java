package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
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
 * {@link OneDnnHelpers}: in a graph carrying it, softmax is bit for bit the oneDNN helper's result; a product of two
 * large operands is bit for bit oneDNN's when the products are chosen for oneDNN and ND4J's own otherwise; a product
 * with a small operand is ND4J's either way (each op also run alone with helpers on and off as the references). The
 * softmax equals the closed form in float64 to float32 rounding, the products the float64 product to float32
 * accumulation error. The inputs are chosen so that the two implementations differ, which the test checks first:
 * otherwise it could not tell which one ran.
 */
class OneDnnHelpersTest {

    private static final int ROWS = 512;
    private static final int COLS = 300;
    private static final int OUT = 96;

    @AfterEach
    void chooseAgain() {
        OneDnnHelpers.fix(null);
    }

    @Test
    void softmaxAndLargeProductsRunWhereChosen() throws Exception {
        Nd4j.getRandom().setSeed(7);
        // Attention's shape, [B, heads, L, T]: oneDNN's helper takes softmax over the last axis of arrays of rank 3 and
        // more (a rank-2 softmax runs on ND4J's own code either way).
        INDArray scores = Nd4j.randn(DataType.FLOAT, 2, 4, ROWS / 8, COLS).muli(4);
        INDArray x = scores.reshape(ROWS, COLS);
        INDArray w = Nd4j.randn(DataType.FLOAT, COLS, OUT).muli(0.05);         // 28,800 elements: large
        INDArray column = Nd4j.randn(DataType.FLOAT, COLS, 1).muli(0.05);      // 300: small
        assertTrue(w.length() >= OneDnnHelpers.LARGE && x.length() >= OneDnnHelpers.LARGE && column.length() < OneDnnHelpers.LARGE);

        INDArray softmaxHelper = alone("softmax", true, scores);
        INDArray softmaxNd4j = alone("softmax", false, scores);
        INDArray matmulHelper = alone("matmul", true, x, w);
        INDArray matmulNd4j = alone("matmul", false, x, w);
        INDArray columnHelper = alone("matmul", true, x, column);
        INDArray columnNd4j = alone("matmul", false, x, column);
        assertFalse(bitwise(softmaxHelper, softmaxNd4j), "the two softmax implementations agree bit for bit on this input");
        assertFalse(bitwise(matmulHelper, matmulNd4j), "the two matmul implementations agree bit for bit on this input");
        assertFalse(bitwise(columnHelper, columnNd4j), "the two matmul implementations agree bit for bit on the column");

        for (String products : new String[] {"onednn", "nd4j"}) {
            OneDnnHelpers.fix(products);
            Map<String, INDArray> out = graph(scores, x, w, column);
            assertTrue(bitwise(softmaxHelper, out.get("probs")), products + ": graph softmax = oneDNN's");
            INDArray expected = products.equals("onednn") ? matmulHelper : matmulNd4j;
            assertTrue(bitwise(expected, out.get("product")), products + ": graph product = " + (products.equals("onednn") ? "oneDNN's" : "ND4J's own"));
            assertTrue(bitwise(columnNd4j, out.get("column")), products + ": graph product with a small operand = ND4J's own");
            assertEquals(products.equals("onednn"), OneDnnHelpers.productsOnOneDnn());
        }

        double[][] rows = x.toDoubleMatrix();
        float[][] probs = softmaxHelper.reshape(ROWS, COLS).toFloatMatrix();
        double[][] weights = w.toDoubleMatrix();
        float[][] productHelper = matmulHelper.toFloatMatrix();
        float[][] productNd4j = matmulNd4j.toFloatMatrix();
        for (int r = 0; r < ROWS; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (double v : rows[r]) max = Math.max(max, v);
            double sum = 0;
            for (double v : rows[r]) sum += Math.exp(v - max);
            for (int c = 0; c < COLS; c++) {
                double expected = Math.exp(rows[r][c] - max) / sum;
                assertEquals(expected, probs[r][c], 1e-6 * expected + 1e-9, "probs[" + r + ", " + c + "]");
            }
            for (int o = 0; o < OUT; o++) {
                double dot = 0, abs = 0;
                for (int c = 0; c < COLS; c++) {
                    dot += rows[r][c] * weights[c][o];
                    abs += Math.abs(rows[r][c] * weights[c][o]);
                }
                double tolerance = COLS * 6e-8 * abs;       // float32 accumulation over COLS terms
                assertEquals(dot, productHelper[r][o], tolerance, "oneDNN product[" + r + ", " + o + "]");
                assertEquals(dot, productNd4j[r][o], tolerance, "ND4J product[" + r + ", " + o + "]");
            }
        }
    }

    @Test
    void theProductsPropertyTakesThreeValues() {
        OneDnnHelpers.fix("nd4j");
        assertFalse(OneDnnHelpers.productsOnOneDnn());
        OneDnnHelpers.fix("ONEDNN");
        assertTrue(OneDnnHelpers.productsOnOneDnn());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OneDnnHelpers.fix("mkl"));
        assertEquals("-Dmha2mla.products=mkl: expected auto, onednn or nd4j", e.getMessage());
        // auto: the measured times decide, with the margin the class states.
        OneDnnHelpers.fix("auto");
        String reason = OneDnnHelpers.productsChoice();
        double[] ms = Arrays.stream(reason.replaceAll(".*call ([0-9.]+) ms, oneDNN ([0-9.]+) ms.*", "$1 $2").split(" "))
                .mapToDouble(Double::parseDouble).toArray();
        assertEquals(ms[1] < OneDnnHelpers.FASTER * ms[0], OneDnnHelpers.productsOnOneDnn(), reason);
    }

    /** The softmax, the large product and the small one, through a graph carrying the listener. */
    private static Map<String, INDArray> graph(INDArray scores, INDArray x, INDArray w, INDArray column) {
        SameDiff sd = SameDiff.create();
        OneDnnHelpers.attachTo(sd);
        SDVariable s = sd.placeHolder("scores", DataType.FLOAT, -1, -1, -1, COLS);
        SDVariable in = sd.placeHolder("x", DataType.FLOAT, -1, COLS);
        sd.nn().softmax("probs", s, -1);
        sd.mmul("product", in, sd.constant("w", w));
        sd.mmul("column", in, sd.constant("c", column));
        return sd.output(Map.of("scores", scores, "x", x), "probs", "product", "column");
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
