package org.mha2mla.core.svd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class WeightSvdTest {

    @Test
    void matchesCommonsMathTruncatedSvd() {
        for (int[] shape : new int[][] {{30, 50}, {60, 25}, {300, 280}}) {
            INDArray w = MdSvdTest.weight(shape[0], shape[1], 4);
            int rank = 10;
            LowRankFactors f = WeightSvd.factorize(w, rank);
            SingularValueDecomposition ref = new SingularValueDecomposition(new Array2DRowRealMatrix(w.toDoubleMatrix()));
            double[] s = ref.getSingularValues();
            RealMatrix approx = ref.getU().getSubMatrix(0, shape[0] - 1, 0, rank - 1)
                    .multiply(ref.getS().getSubMatrix(0, rank - 1, 0, rank - 1))
                    .multiply(ref.getV().getSubMatrix(0, shape[1] - 1, 0, rank - 1).transpose());
            INDArray refApprox = Nd4j.createFromArray(approx.getData());
            double rel = f.approximation().sub(refApprox).norm2Number().doubleValue() / refApprox.norm2Number().doubleValue();
            assertTrue(rel < 1e-10, "rank-10 approximation vs commons-math " + shape[0] + "x" + shape[1] + ": " + rel);
            double tail = 0;
            for (int i = rank; i < s.length; i++) {
                tail += s[i] * s[i];
            }
            assertEquals(tail, f.truncationLoss(), 1e-10 * tail);
            double err = w.sub(f.approximation()).norm2Number().doubleValue();
            assertEquals(tail, err * err, 1e-9 * tail);
            assertArrayEquals(java.util.Arrays.copyOfRange(s, rank, s.length), f.discardedSingularValues(), 1e-10 * s[0]);
            // Balanced split: W_up and W_down carry the same singular-value weight.
            assertEquals(f.wUp().norm2Number().doubleValue(), f.wDown().norm2Number().doubleValue(), 1e-9);
        }
    }

    @Test
    void equalsActivationAwareSvdWithIdentityCovariance() {
        INDArray w = MdSvdTest.weight(18, 26, 5);
        LowRankFactors weightOnly = WeightSvd.factorize(w, 6);
        LowRankFactors identity = MdSvd.factorize(w, Nd4j.eye(26).castTo(DataType.DOUBLE), 1, 6, 0.0);
        assertTrue(weightOnly.approximation().sub(identity.approximation()).norm2Number().doubleValue() < 1e-10);
        assertEquals(weightOnly.truncationLoss(), identity.truncationLoss(), 1e-9 * weightOnly.truncationLoss());
    }
}
