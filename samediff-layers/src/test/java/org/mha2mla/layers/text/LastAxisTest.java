package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class LastAxisTest {

    @Test
    void keepDimMeanEqualsNd4jMeanForRank3And4Batches() {
        for (long[] shape : new long[][]{{5, 17, 48}, {2, 3, 4, 8}}) {
            INDArray x = Nd4j.rand(DataType.FLOAT, shape);
            SameDiff sd = SameDiff.create();
            long[] ph = shape.clone();
            for (int i = 0; i < ph.length - 1; i++) ph[i] = -1;
            LastAxis.mean(sd, sd.placeHolder("x", DataType.FLOAT, ph)).rename("m");
            INDArray m = sd.output(Map.of("x", x), "m").get("m");
            INDArray expected = x.mean(true, shape.length - 1);
            assertArrayEquals(expected.shape(), m.shape());
            assertTrue(m.sub(expected).amaxNumber().doubleValue() < 1e-6);
        }
    }
}
