package org.mha2mla.core.svd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The two scalings of the factors against closed forms and against a transcription of the authors' code. */
class FactorSplitTest {

    /**
     * W = diag(w) and activations whose covariance is diag(λ): D = W S^½ = diag(w_i √λ_i), so each σ_i is known and
     * ‖W_up‖²_F = Σ_{top r} σ_i, ‖W_down‖²_F = Σ_{top r} w_i² / σ_i for S = XᵀX / N (balanced), and with the
     * authors' S / n every σ_i becomes σ_i / √n: ‖W_up‖² shrinks by √n, ‖W_down‖² grows by √n.
     */
    @Test
    void activationAwareFactorNormsMatchTheClosedForm() {
        double[] w = {3.0, -2.0, 0.5, 1.5, 0.25};
        double[] lambda = {0.5, 2.0, 4.0, 1.0, 0.1};
        int d = w.length;
        int rank = 3;
        long samples = 16;
        CovarianceAccumulator stats = new CovarianceAccumulator(d);
        for (int i = 0; i < d; i++) {                      // N = d tokens, token i = √(d·λ_i)·e_i: XᵀX / N = diag(λ)
            double[] row = new double[d];
            row[i] = Math.sqrt(d * lambda[i]);
            stats.add(Nd4j.createFromArray(new double[][] {row}));
        }
        double[] sigma = new double[d];
        for (int i = 0; i < d; i++) sigma[i] = Math.abs(w[i]) * Math.sqrt(lambda[i]);
        Integer[] top = java.util.stream.IntStream.range(0, d).boxed().sorted((a, b) -> Double.compare(sigma[b], sigma[a])).toArray(Integer[]::new);
        double up = 0;
        double down = 0;
        for (int k = 0; k < rank; k++) {
            up += sigma[top[k]];
            down += w[top[k]] * w[top[k]] / sigma[top[k]];
        }
        INDArray weight = Nd4j.diag(Nd4j.createFromArray(w));

        LowRankFactors balanced = MdSvd.factorize(weight, stats, rank, 0.0, FactorSplit.BALANCED, samples);
        LowRankFactors authors = MdSvd.factorize(weight, stats, rank, 0.0, FactorSplit.AUTHORS, samples);
        assertEquals(up, squaredNorm(balanced.wUp()), 1e-12 * up);
        assertEquals(down, squaredNorm(balanced.wDown()), 1e-12 * down);
        assertEquals(up / Math.sqrt(samples), squaredNorm(authors.wUp()), 1e-12 * up);
        assertEquals(down * Math.sqrt(samples), squaredNorm(authors.wDown()), 1e-12 * down);
        // 16 samples: W_up is 16^-¼ = 1/2 of the balanced one, W_down twice; product and loss unchanged
        assertEquals(0.5, Math.sqrt(squaredNorm(authors.wUp()) / squaredNorm(balanced.wUp())), 1e-12);
        assertEquals(0.0, authors.approximation().sub(balanced.approximation()).amaxNumber().doubleValue(), 1e-12);
        assertEquals(balanced.truncationLoss(), authors.truncationLoss(), 1e-12 * balanced.truncationLoss());
        assertEquals(balanced.truncationLoss(), TruncationLoss.onStatistics(weight, authors, stats), 1e-12 * balanced.truncationLoss());
    }

    /** Plain weight SVD: the authors' W_up = U Σ, W_down = Vᵀ (‖W_up‖² = Σ σ², ‖W_down‖² = r) against Σ^½ on each side. */
    @Test
    void weightSvdFactorNormsMatchTheClosedForm() {
        double[] w = {3.0, -2.0, 0.5, 1.5};
        INDArray weight = Nd4j.diag(Nd4j.createFromArray(w));
        LowRankFactors authors = WeightSvd.factorize(weight, 2, FactorSplit.AUTHORS);
        LowRankFactors balanced = WeightSvd.factorize(weight, 2, FactorSplit.BALANCED);
        assertEquals(9.0 + 4.0, squaredNorm(authors.wUp()), 1e-12);
        assertEquals(2.0, squaredNorm(authors.wDown()), 1e-12);
        assertEquals(3.0 + 2.0, squaredNorm(balanced.wUp()), 1e-12);
        assertEquals(3.0 + 2.0, squaredNorm(balanced.wDown()), 1e-12);
        assertEquals(0.0, authors.approximation().sub(balanced.approximation()).amaxNumber().doubleValue(), 1e-12);
        assertEquals(0.25 + 2.25, authors.truncationLoss(), 1e-12);
    }

    /**
     * The authors' run_svd_init.py in order (S = XᵀX / tokens / samples; Us, Ss = svd(S); D = W Us Ss^½;
     * W_up = U_d Σ_d^½; W_down = Σ_d^½ V_dᵀ Ss^-½ Us⁻¹) on random data, with commons-math, against
     * {@link FactorSplit#AUTHORS}: equal factors up to the sign of each singular direction.
     */
    @Test
    void authorsScaleEqualsATranscriptionOfTheirCode() {
        int d = 16;
        int rows = 10;
        int rank = 4;
        long samples = 512;
        INDArray w = MdSvdTest.weight(rows, d, 7);
        INDArray x = MdSvdTest.activations(300, d, 8, 0.5);
        CovarianceAccumulator stats = new CovarianceAccumulator(d);
        stats.add(x);
        // Alg. 1 of MdSvdTest on activations scaled by 1/√n has covariance XᵀX / (N·n): exactly their S.
        RealMatrix[] ref = MdSvdTest.algorithm1(w, x.div(Math.sqrt(samples)), rank);
        LowRankFactors ours = MdSvd.factorize(w, stats, rank, 0.0, FactorSplit.AUTHORS, samples);
        RealMatrix up = new Array2DRowRealMatrix(ours.wUp().toDoubleMatrix());
        RealMatrix down = new Array2DRowRealMatrix(ours.wDown().toDoubleMatrix());
        double scale = ref[0].getFrobeniusNorm();
        for (int k = 0; k < rank; k++) {
            double sign = Math.signum(up.getColumnVector(k).dotProduct(ref[0].getColumnVector(k)));
            assertTrue(sign != 0, "direction " + k);
            double dUp = up.getColumnVector(k).mapMultiply(sign).subtract(ref[0].getColumnVector(k)).getLInfNorm();
            double dDown = down.getRowVector(k).mapMultiply(sign).subtract(ref[1].getRowVector(k)).getLInfNorm();
            assertTrue(dUp < 1e-9 * scale, "W_up column " + k + ": " + dUp);
            assertTrue(dDown < 1e-9 * ref[1].getFrobeniusNorm(), "W_down row " + k + ": " + dDown);
        }
        // their scale against the balanced one: n^-¼ = 0.2102 at 512 samples
        double ratio = Math.sqrt(squaredNorm(ours.wUp()) / squaredNorm(MdSvd.factorize(w, stats, rank, 0.0, FactorSplit.BALANCED, samples).wUp()));
        assertEquals(Math.pow(samples, -0.25), ratio, 1e-9);
    }

    @Test
    void parsesAndRefuses() {
        assertEquals(FactorSplit.AUTHORS, FactorSplit.parse("Authors"));
        assertEquals(FactorSplit.BALANCED, FactorSplit.parse("balanced"));
        assertThrows(IllegalArgumentException.class, () -> FactorSplit.parse("half"));
        CovarianceAccumulator stats = new CovarianceAccumulator(2);
        stats.add(Nd4j.createFromArray(new double[][] {{1, 0}, {0, 1}}));
        assertThrows(IllegalArgumentException.class, () -> MdSvd.factorize(Nd4j.eye(2), stats, 1, 0.0, FactorSplit.AUTHORS, 0));
    }

    private static double squaredNorm(INDArray a) {
        double n = a.norm2Number().doubleValue();
        return n * n;
    }
}
