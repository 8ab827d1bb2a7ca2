package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class LinearTest {

    @Test
    void computesXWTransposePlusBiasOnRank3AndRank4() {
        INDArray w = Nd4j.rand(DataType.FLOAT, 5, 6);
        INDArray bias = Nd4j.rand(DataType.FLOAT, 5);
        SameDiff sd = SameDiff.create();
        sd.var("p.weight", w);
        sd.var("p.bias", bias);
        Linear lin = Linear.of(sd, "p", 6, 5, true);
        lin.forward("y3", sd.placeHolder("x3", DataType.FLOAT, -1, -1, 6));
        lin.forward("y4", sd.placeHolder("x4", DataType.FLOAT, -1, -1, -1, 6));
        INDArray x3 = Nd4j.rand(DataType.FLOAT, 2, 3, 6);
        INDArray x4 = Nd4j.rand(DataType.FLOAT, 2, 2, 3, 6);
        Map<String, INDArray> out = sd.output(Map.of("x3", x3, "x4", x4), "y3", "y4");
        INDArray ref3 = x3.reshape(6, 6).mmul(w.transpose()).addRowVector(bias).reshape(2, 3, 5);
        INDArray ref4 = x4.reshape(12, 6).mmul(w.transpose()).addRowVector(bias).reshape(2, 2, 3, 5);
        assertArrayEquals(ref4.shape(), out.get("y4").shape());
        assertTrue(out.get("y3").sub(ref3).amaxNumber().doubleValue() < 1e-6);
        assertTrue(out.get("y4").sub(ref4).amaxNumber().doubleValue() < 1e-6);
    }

    @Test
    void projectionsOfOneInputShareItsFlatteningAndGradientsStayExact() {
        // q, k and v of one input: one reshape to rows and one shape read for all three; k and v (same width) also
        // share the restored shape. Values and the input's gradient equal the per-projection products.
        INDArray wq = Nd4j.rand(DataType.FLOAT, 8, 6), wk = Nd4j.rand(DataType.FLOAT, 4, 6), wv = Nd4j.rand(DataType.FLOAT, 4, 6);
        SameDiff sd = SameDiff.create();
        var x = sd.var("x", Nd4j.rand(DataType.FLOAT, 2, 3, 6));
        var q = Linear.apply(sd, "q", x, sd.constant("wq", wq), 6, 8);
        var k = Linear.apply(sd, "k", x, sd.constant("wk", wk), 6, 4);
        var v = Linear.apply(sd, "v", x, sd.constant("wv", wv), 6, 4);
        Map<String, Long> ops = new java.util.TreeMap<>();
        sd.getOps().values().forEach(op -> ops.merge(op.getOp().opName(), 1L, Long::sum));
        assertEquals(3L, ops.get(LinearMatmul.OP_NAME), ops.toString());
        assertEquals(4L, ops.get("reshape"), "one flattening, three restores: " + ops);
        assertEquals(1L, ops.get("shape_of"), ops.toString());
        assertEquals(1L, ops.get("strided_slice"), ops.toString());
        assertEquals(2L, ops.get("concat"), "a restored shape per output width: " + ops);

        sd.setLossVariables(sd.sum("loss", q.sum().add(k.mul(2).sum()).add(v.mul(3).sum())));
        INDArray xv = x.getArr();
        Map<String, INDArray> out = sd.output(Map.of(), "q", "k", "v");
        assertTrue(out.get("q").sub(xv.reshape(6, 6).mmul(wq.transpose()).reshape(2, 3, 8)).amaxNumber().doubleValue() < 1e-6);
        assertTrue(out.get("k").sub(xv.reshape(6, 6).mmul(wk.transpose()).reshape(2, 3, 4)).amaxNumber().doubleValue() < 1e-6);
        assertTrue(out.get("v").sub(xv.reshape(6, 6).mmul(wv.transpose()).reshape(2, 3, 4)).amaxNumber().doubleValue() < 1e-6);
        // d(Σq + 2Σk + 3Σv)/dx = row sums of (W_q + 2 W_k + 3 W_v) over the outputs, for every position
        INDArray perRow = wq.sum(0).add(wk.sum(0).mul(2)).add(wv.sum(0).mul(3));
        INDArray grad = sd.calculateGradients(Map.of(), "x").get("x");
        for (int b = 0; b < 2; b++) {
            for (int l = 0; l < 3; l++) {
                assertTrue(grad.get(org.nd4j.linalg.indexing.NDArrayIndex.point(b), org.nd4j.linalg.indexing.NDArrayIndex.point(l),
                        org.nd4j.linalg.indexing.NDArrayIndex.all()).sub(perRow).amaxNumber().doubleValue() < 1e-5);
            }
        }
    }

    @Test
    void shapeMismatchNamesTheTensor() {
        SameDiff sd = SameDiff.create();
        sd.var("p.weight", Nd4j.rand(DataType.FLOAT, 6, 5));
        var e = assertThrows(IllegalArgumentException.class, () -> Linear.of(sd, "p", 6, 5, false));
        assertTrue(e.getMessage().contains("'p.weight' has shape [6, 5] but the config implies [5, 6]"), e.getMessage());
        var missing = assertThrows(IllegalArgumentException.class, () -> Linear.of(sd, "q", 6, 5, false));
        assertTrue(missing.getMessage().contains("'q.weight' is missing"), missing.getMessage());
    }
}
