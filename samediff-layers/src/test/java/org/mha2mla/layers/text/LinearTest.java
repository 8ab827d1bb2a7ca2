package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
    void shapeMismatchNamesTheTensor() {
        SameDiff sd = SameDiff.create();
        sd.var("p.weight", Nd4j.rand(DataType.FLOAT, 6, 5));
        var e = assertThrows(IllegalArgumentException.class, () -> Linear.of(sd, "p", 6, 5, false));
        assertTrue(e.getMessage().contains("'p.weight' has shape [6, 5] but the config implies [5, 6]"), e.getMessage());
        var missing = assertThrows(IllegalArgumentException.class, () -> Linear.of(sd, "q", 6, 5, false));
        assertTrue(missing.getMessage().contains("'q.weight' is missing"), missing.getMessage());
    }
}
