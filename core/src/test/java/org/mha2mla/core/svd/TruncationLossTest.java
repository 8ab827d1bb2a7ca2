package org.mha2mla.core.svd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

class TruncationLossTest {

    @Test
    void statisticsFormsEqualTheDirectLossForArbitraryFactors() {
        // Factors that come from no SVD at all: the trace formula must still equal the direct sum.
        INDArray w = MdSvdTest.weight(9, 14, 1);
        INDArray up = MdSvdTest.weight(9, 3, 2);
        INDArray down = MdSvdTest.weight(3, 14, 3);
        LowRankFactors f = new LowRankFactors(down, up, Double.NaN, new double[0]);
        INDArray x = MdSvdTest.activations(120, 14, 4, 1.0);
        CovarianceAccumulator acc = new CovarianceAccumulator(14);
        acc.add(x);
        double direct = TruncationLoss.direct(w, f, x);
        // hand check of the direct form on token 0
        INDArray e0 = x.getRow(0).reshape(1, 14).mmul(w.sub(up.mmul(down)).transpose());
        double t0 = e0.norm2Number().doubleValue();
        assertEquals(true, direct > t0 * t0);
        assertEquals(direct, TruncationLoss.onStatistics(w, f, acc), 1e-10 * direct);
        assertEquals(direct, TruncationLoss.onCovariance(w, f, acc.covariance(), acc.tokens()), 1e-10 * direct);
        assertThrows(IllegalArgumentException.class, () -> TruncationLoss.onStatistics(MdSvdTest.weight(8, 14, 1), f, acc));
        assertEquals(2, f.wUpRows(3, 5).rows());
    }
}
