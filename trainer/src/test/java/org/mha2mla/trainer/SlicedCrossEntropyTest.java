package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.tensor.Precision;
import org.mha2mla.core.tensor.StoredTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The sliced lm_head cross-entropy against the closed form over the whole head in double precision: CE_r =
 * logsumexp(W·x_r) − (W·x_r)[y_r] and ∂CE/∂x_r = Wᵀ(softmax(W·x_r) − e_{y_r}); a vocabulary that is not a multiple of
 * the slice and more rows than one block, with the head stored in bf16.
 */
class SlicedCrossEntropyTest {

    @Test
    void equalsTheWholeHeadInDoublePrecision() {
        int vocab = 1003;
        int d = 24;
        int rows = 7;
        Nd4j.getRandom().setSeed(11);
        INDArray w = Nd4j.randn(DataType.FLOAT, vocab, d).muli(0.5);
        INDArray x = Nd4j.randn(DataType.FLOAT, rows, d);
        int[] labels = {0, 1002, 17, 500, 17, 999, 3};
        StoredTensor head = bf16(w);
        INDArray wStored = head.floats();                               // what the head holds after rounding to bf16

        // slices of 100 head rows and blocks of 3 rows force the loops through several of each
        INDArray gradient = Nd4j.createUninitialized(DataType.FLOAT, rows, d);
        double loss = SlicedCrossEntropy.lossAndGradient(x, labels, head, gradient, 3, 100);

        double[][] wd = toDouble(wStored);
        double[][] xd = toDouble(x);
        double expected = 0;
        for (int r = 0; r < rows; r++) {
            double[] z = new double[vocab];
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < vocab; v++) {
                for (int k = 0; k < d; k++) z[v] += wd[v][k] * xd[r][k];
                max = Math.max(max, z[v]);
            }
            double sum = 0;
            for (int v = 0; v < vocab; v++) sum += Math.exp(z[v] - max);
            expected += Math.log(sum) + max - z[labels[r]];
            for (int k = 0; k < d; k++) {
                double g = -wd[labels[r]][k];
                for (int v = 0; v < vocab; v++) g += Math.exp(z[v] - max) / sum * wd[v][k];
                assertEquals(g, gradient.getDouble(r, k), 1e-5 * (1 + Math.abs(g)), "∂CE/∂x[" + r + ", " + k + "]");
            }
        }
        System.out.printf("sliced cross-entropy %.9f, closed form %.9f%n", loss, expected);
        assertEquals(expected, loss, 1e-5 * expected);
        assertTrue(loss > 0);
    }

    private static StoredTensor bf16(INDArray a) {
        ByteBuffer b = ByteBuffer.allocateDirect((int) a.length() * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : a.dup().data().asFloat()) b.putShort((short) (Float.floatToIntBits(f) >>> 16));
        b.flip();
        return StoredTensor.of("lm_head.weight", Precision.BF16, a.shape(), new ByteBuffer[]{b}, () -> { });
    }

    private static double[][] toDouble(INDArray a) {
        double[][] out = new double[(int) a.size(0)][(int) a.size(1)];
        for (int i = 0; i < out.length; i++) for (int j = 0; j < out[i].length; j++) out[i][j] = a.getDouble(i, j);
        return out;
    }
}
