package org.mha2mla.layers.vision;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class LayerNormTest {

    @Test
    void matchesTorchLayerNormClosedFormOnABatch() {
        INDArray x = Nd4j.randn(DataType.FLOAT, 4, 3, 8).muli(2).addi(1);
        INDArray w = Nd4j.rand(DataType.FLOAT, 8);
        INDArray b = Nd4j.rand(DataType.FLOAT, 8);
        SameDiff sd = SameDiff.create();
        sd.var("ln.weight", w);
        sd.var("ln.bias", b);
        new LayerNorm(sd, "ln", 8, 1e-5).forward("y", sd.placeHolder("x", DataType.FLOAT, -1, -1, 8));
        INDArray y = sd.output(Map.of("x", x), "y").get("y");
        double err = 0;
        for (int n = 0; n < 4; n++) {
            for (int t = 0; t < 3; t++) {
                double mu = 0, var = 0;
                for (int i = 0; i < 8; i++) mu += x.getDouble(n, t, i) / 8;
                for (int i = 0; i < 8; i++) var += Math.pow(x.getDouble(n, t, i) - mu, 2) / 8; // biased, as torch
                for (int i = 0; i < 8; i++) {
                    double exact = (x.getDouble(n, t, i) - mu) / Math.sqrt(var + 1e-5) * w.getDouble(i) + b.getDouble(i);
                    err = Math.max(err, Math.abs(exact - y.getDouble(n, t, i)));
                }
            }
        }
        assertTrue(err < 1e-5, "layer norm err " + err);
    }
}
