package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class RmsNormTest {

    @Test
    void matchesClosedFormOnABatch() {
        // batch 3 on purpose: SameDiff's keepDims mean over axis −1 is wrong beyond one row set (see LastAxis)
        Nd4j.getRandom().setSeed(7);
        INDArray x = Nd4j.randn(DataType.FLOAT, 3, 5, 8).muli(3);
        INDArray w = Nd4j.rand(DataType.FLOAT, 8);
        SameDiff sd = SameDiff.create();
        sd.var("norm.weight", w);
        new RmsNorm(sd, "norm.weight", 8, 1e-5).forward("y", sd.placeHolder("x", DataType.FLOAT, -1, -1, 8));
        INDArray y = sd.output(Map.of("x", x), "y").get("y");
        double err = 0;
        for (int b = 0; b < 3; b++) {
            for (int t = 0; t < 5; t++) {
                double ms = 0;
                for (int i = 0; i < 8; i++) ms += x.getDouble(b, t, i) * x.getDouble(b, t, i) / 8;
                for (int i = 0; i < 8; i++) {
                    double exact = w.getDouble(i) * x.getDouble(b, t, i) / Math.sqrt(ms + 1e-5);
                    err = Math.max(err, Math.abs(exact - y.getDouble(b, t, i)));
                }
            }
        }
        assertTrue(err < 1e-5, "rms norm err " + err);
    }
}
