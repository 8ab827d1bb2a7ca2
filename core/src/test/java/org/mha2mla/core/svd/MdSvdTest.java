package org.mha2mla.core.svd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.DiagonalMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.junit.jupiter.api.Test;
import org.mha2mla.core.linalg.LinearAlgebra;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class MdSvdTest {

    static double[][] gaussian(int m, int n, Random r) {
        double[][] a = new double[m][n];
        for (double[] row : a) {
            for (int j = 0; j < n; j++) {
                row[j] = r.nextGaussian();
            }
        }
        return a;
    }

    /** N tokens of correlated activations: Z · A with column scales decaying like 1/(1+j), plus a mean. */
    static INDArray activations(int n, int d, long seed, double offset) {
        Random r = new Random(seed);
        RealMatrix z = new Array2DRowRealMatrix(gaussian(n, d, r));
        double[][] a = gaussian(d, d, r);
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < d; j++) {
                a[i][j] /= 1.0 + j;
            }
        }
        double[][] x = z.multiply(new Array2DRowRealMatrix(a)).getData();
        for (double[] row : x) {
            for (int j = 0; j < d; j++) {
                row[j] += offset * Math.cos(j + seed);
            }
        }
        return Nd4j.createFromArray(x);
    }

    static INDArray weight(int rows, int d, long seed) {
        return Nd4j.createFromArray(gaussian(rows, d, new Random(seed)));
    }

    /** Alg. 1 literally, with commons-math as the second implementation. Returns {W_up, W_down, σ_d}. */
    static RealMatrix[] algorithm1(INDArray w, INDArray x, int rank) {
        RealMatrix xm = new Array2DRowRealMatrix(x.toDoubleMatrix());
        RealMatrix s = xm.transpose().multiply(xm).scalarMultiply(1.0 / x.rows());
        EigenDecomposition es = new EigenDecomposition(s);
        RealMatrix us = es.getV();
        double[] lambda = es.getRealEigenvalues();
        double[] sqrt = new double[lambda.length];
        double[] invSqrt = new double[lambda.length];
        for (int i = 0; i < lambda.length; i++) {
            sqrt[i] = Math.sqrt(lambda[i]);
            invSqrt[i] = 1 / sqrt[i];
        }
        RealMatrix dm = new Array2DRowRealMatrix(w.toDoubleMatrix()).multiply(us).multiply(new DiagonalMatrix(sqrt));
        SingularValueDecomposition sd = new SingularValueDecomposition(dm);
        double[] sigma = sd.getSingularValues();
        double[] rootSigma = new double[rank];
        for (int i = 0; i < rank; i++) {
            rootSigma[i] = Math.sqrt(sigma[i]);
        }
        RealMatrix ud = sd.getU().getSubMatrix(0, dm.getRowDimension() - 1, 0, rank - 1);
        RealMatrix vd = sd.getV().getSubMatrix(0, dm.getColumnDimension() - 1, 0, rank - 1);
        RealMatrix up = ud.multiply(new DiagonalMatrix(rootSigma));
        RealMatrix down = new DiagonalMatrix(rootSigma).multiply(vd.transpose())
                .multiply(new DiagonalMatrix(invSqrt)).multiply(us.transpose());
        return new RealMatrix[] {up, down, new Array2DRowRealMatrix(sigma)};
    }

    static CovarianceAccumulator stats(INDArray x) {
        CovarianceAccumulator acc = new CovarianceAccumulator((int) x.columns());
        acc.add(x);
        return acc;
    }

    @Test
    void lossEqualsDiscardedSquaredSingularValuesOfD() {
        // rows ≤ d (Gram of W S Wᵀ) and rows > d (Alg. 1 literally): both branches.
        int[][] shapes = {{24, 40}, {50, 30}};
        for (int[] shape : shapes) {
            int rows = shape[0];
            int d = shape[1];
            INDArray w = weight(rows, d, 1);
            INDArray x = activations(600, d, 2, 0.5);
            int rank = 9;
            LowRankFactors f = MdSvd.factorize(w, stats(x), rank, 0.0);
            double[] sigma = algorithm1(w, x, rank)[2].getColumn(0);
            double expected = 0;
            for (int i = rank; i < sigma.length; i++) {
                expected += sigma[i] * sigma[i];
            }
            expected *= x.rows();
            double direct = TruncationLoss.direct(w, f, x);
            assertEquals(expected, f.truncationLoss(), 1e-6 * expected, "closed form, shape " + rows + "x" + d);
            assertEquals(expected, direct, 1e-6 * expected, "direct from X, shape " + rows + "x" + d);
            // rows > d computes the top r pairs only: the discarded values are not known one by one
            assertEquals(rows <= d ? Math.min(rows, d) - rank : 0, f.discardedSingularValues().length);
            for (int i = 0; i < f.discardedSingularValues().length; i++) {
                assertEquals(sigma[rank + i], f.discardedSingularValues()[i], 1e-9 * sigma[0]);
            }
            assertArrayEquals(new long[] {rank, d}, f.wDown().shape());
            assertArrayEquals(new long[] {rows, rank}, f.wUp().shape());
        }
    }

    @Test
    void factorsEqualTheLiteralAlgorithm1() {
        for (int[] shape : new int[][] {{24, 40}, {50, 30}}) {
            INDArray w = weight(shape[0], shape[1], 3);
            INDArray x = activations(500, shape[1], 4, 0.0);
            int rank = 7;
            LowRankFactors f = MdSvd.factorize(w, stats(x), rank, 0.0);
            RealMatrix[] ref = algorithm1(w, x, rank);
            double[][] up = ref[0].getData();
            double[][] down = ref[1].getData();
            // Singular vectors are defined up to sign: align column i of W_up / row i of W_down.
            for (int i = 0; i < rank; i++) {
                double sign = Math.signum(f.wUp().getDouble(0, i) * up[0][i]);
                for (int r = 0; r < shape[0]; r++) {
                    assertEquals(up[r][i], sign * f.wUp().getDouble(r, i), 1e-8, "W_up[" + r + "," + i + "]");
                }
                for (int c = 0; c < shape[1]; c++) {
                    assertEquals(down[i][c], sign * f.wDown().getDouble(i, c), 1e-7 * (1 + Math.abs(down[i][c])),
                            "W_down[" + i + "," + c + "]");
                }
            }
            INDArray refProduct = Nd4j.createFromArray(ref[0].multiply(ref[1]).getData());
            double rel = f.approximation().sub(refProduct).norm2Number().doubleValue() / refProduct.norm2Number().doubleValue();
            assertTrue(rel < 1e-9, "W_up·W_down vs Alg. 1: " + rel);
        }
    }

    @Test
    void ridgeIsAccountedForInTheClosedFormLoss() {
        // N = 15 tokens < d = 40: S is singular, the ridge is required.
        INDArray w = weight(20, 40, 5);
        INDArray x = activations(15, 40, 6, 1.0);
        LowRankFactors f = MdSvd.factorize(w, stats(x), 6, 1e-2);
        double direct = assertClosedFormLossIsTheLossOnX(w, f, x);
        // Without the ridge term the closed form would overstate the loss.
        double tail = 0;
        for (double s : f.discardedSingularValues()) {
            tail += s * s;
        }
        assertTrue(tail * 15 > direct * 1.0001);
        // rows > d (the Cholesky route): 25 tokens in 30 dimensions, the ridge's share from ‖W‖² − ‖U_rᵀW‖²
        INDArray tall = weight(50, 30, 7);
        INDArray few = activations(25, 30, 8, 1.0);
        assertClosedFormLossIsTheLossOnX(tall, MdSvd.factorize(tall, stats(few), 6, 1e-2), few);
    }

    /** The factors' closed-form loss and TruncationLoss on the statistics both equal Σ‖(W − W_up W_down) x‖² (1e-9); returns it. */
    private static double assertClosedFormLossIsTheLossOnX(INDArray w, LowRankFactors f, INDArray x) {
        double direct = TruncationLoss.direct(w, f, x);
        assertEquals(direct, f.truncationLoss(), 1e-9 * direct);
        assertEquals(direct, TruncationLoss.onStatistics(w, f, stats(x)), 1e-9 * direct);
        return direct;
    }

    @Test
    void moreRowsThanDimensionsWithSingularStatisticsTakesTheEigenSquareRoot() {
        // rows > d, eps = 0 and 20 tokens in 30 dimensions: S has no Cholesky factor, Alg. 1's eigen square root
        // of S is used instead; the closed-form loss still equals the loss measured on X.
        INDArray w = weight(50, 30, 12);
        INDArray x = activations(20, 30, 13, 0.4);
        LowRankFactors f = MdSvd.factorize(w, stats(x), 8, 0.0);
        double direct = TruncationLoss.direct(w, f, x);
        assertEquals(direct, f.truncationLoss(), 1e-8 * direct);
        assertEquals(30 - 8, f.discardedSingularValues().length);
        // The same problem with a ridge goes through the Cholesky route and agrees on W X to the ridge's order.
        LowRankFactors ridge = MdSvd.factorize(w, stats(x), 8, 1e-12);
        assertEquals(0, ridge.discardedSingularValues().length);
        assertEquals(direct, TruncationLoss.direct(w, ridge, x), 1e-6 * direct);
    }

    @Test
    void fullRankReproducesWXExactly() {
        for (int[] shape : new int[][] {{24, 40}, {50, 30}}) {
            INDArray w = weight(shape[0], shape[1], 7);
            INDArray x = activations(300, shape[1], 8, 0.3);
            LowRankFactors f = MdSvd.factorize(w, stats(x), Math.min(shape[0], shape[1]), MdSvd.DEFAULT_EPS);
            INDArray exact = x.mmul(w.transpose());
            INDArray approx = x.mmul(f.wDown().transpose()).mmul(f.wUp().transpose());
            double rel = exact.sub(approx).norm2Number().doubleValue() / exact.norm2Number().doubleValue();
            assertTrue(rel < 1e-8, "full rank " + shape[0] + "x" + shape[1] + ": " + rel);
            assertEquals(0.0, f.truncationLoss(), 1e-8 * exact.norm2Number().doubleValue());
        }
    }

    @Test
    void theorem21SplitLossIsAtMostJointLoss() {
        // Two modalities with different covariances and means: each modality's own factors are optimal for
        // its tokens, so their total loss cannot exceed that of one shared factor pair (Theorem 2.1).
        int d = 48;
        INDArray w = weight(32, d, 9);
        INDArray text = activations(700, d, 10, 0.2);
        INDArray visual = activations(900, d, 11, 3.0);
        ModalityCovariance stats = new ModalityCovariance(d);
        INDArray all = Nd4j.vstack(text, visual);
        boolean[] isVisual = new boolean[1600];
        java.util.Arrays.fill(isVisual, 700, 1600, true);
        stats.add(all, isVisual);
        assertEquals(700, stats.text().tokens());
        assertEquals(900, stats.visual().tokens());
        for (int rank : new int[] {4, 8, 16}) {
            ModalityFactors split = MdSvd.factorize(w, stats, rank, 1e-12);
            LowRankFactors joint = SvdLlm.factorize(w, stats, rank, 1e-12);
            double splitLoss = TruncationLoss.direct(w, split.text(), text) + TruncationLoss.direct(w, split.visual(), visual);
            double jointLoss = TruncationLoss.direct(w, joint, text) + TruncationLoss.direct(w, joint, visual);
            assertTrue(splitLoss <= jointLoss, "rank " + rank + ": split " + splitLoss + " > joint " + jointLoss);
            assertTrue(splitLoss < 0.95 * jointLoss, "rank " + rank + ": modalities differ, split should win clearly: "
                    + splitLoss / jointLoss);
            // The per-modality closed forms add up to the split loss.
            assertEquals(splitLoss, split.text().truncationLoss() + split.visual().truncationLoss(), 1e-8 * splitLoss);
            assertEquals(jointLoss, joint.truncationLoss(), 1e-8 * jointLoss);
            assertTrue(split.forModality(true) == split.visual());
        }
    }

    @Test
    void float32RouteAgreesWithTheFloat64Route() {
        // The route of rows > d ≥ 2048 (LLaVA-1.5-7B's 7,168 × 4,096), run on a small problem against the float64
        // Cholesky route the small shapes take: float32 rounding only
        INDArray w = weight(160, 96, 21);
        INDArray x = activations(400, 96, 22, 0.5);
        CovarianceAccumulator st = stats(x);
        int rank = 24;
        LowRankFactors f64 = MdSvd.factorize(w, st, rank, MdSvd.DEFAULT_EPS);
        LowRankFactors f32 = MdSvd.factorizeInFloat32(w, st.covariance(), st.tokens(), rank, MdSvd.DEFAULT_EPS);
        assertEquals(DataType.DOUBLE, f32.wUp().dataType());
        assertEquals(DataType.DOUBLE, f32.wDown().dataType());
        double product = f32.approximation().sub(f64.approximation()).norm2Number().doubleValue()
                / f64.approximation().norm2Number().doubleValue();
        assertTrue(product < 1e-5, "W_up·W_down: " + product);
        assertEquals(f64.truncationLoss(), f32.truncationLoss(), 1e-4 * f64.truncationLoss());
        double direct = TruncationLoss.direct(w, f32, x);
        assertEquals(direct, f32.truncationLoss(), 1e-4 * direct);

        // 30 tokens in 96 dimensions with eps 1e-9: S + δI's condition number (~1e9) is far past float32's; the loss on
        // X, ~0 at rank 40 > 30 tokens, stays at the float64 route's to 1e-6 of ‖W X‖²
        INDArray few = activations(30, 96, 24, 0.5);
        CovarianceAccumulator thin = stats(few);
        LowRankFactors thin32 = MdSvd.factorizeInFloat32(w, thin.covariance(), thin.tokens(), 40, 1e-9);
        LowRankFactors thin64 = MdSvd.factorize(w, thin, 40, 1e-9);
        double energy = Math.pow(few.mmul(w.transpose()).norm2Number().doubleValue(), 2);
        assertEquals(TruncationLoss.direct(w, thin64, few), TruncationLoss.direct(w, thin32, few), 1e-6 * energy);
        assertEquals(thin64.truncationLoss(), thin32.truncationLoss(), 1e-6 * energy);
    }

    @Test
    void sevenBWidthsTakeTheFloat32RouteAndKeepTheClosedFormLoss() {
        // d = 2048 with more rows than d: the float32 route, whose closed-form loss still equals Σ‖(W − W_up W_down) x‖²
        // measured on the tokens in float64 (float32's rounding only)
        int d = 2048;
        int rank = 32;
        Nd4j.getRandom().setSeed(23);
        INDArray w = Nd4j.randn(DataType.FLOAT, 2176, d).muli(0.02);
        INDArray scales = Nd4j.createFromArray(java.util.stream.IntStream.range(0, d).mapToDouble(j -> 1.0 / Math.sqrt(1 + j)).toArray())
                .castTo(DataType.FLOAT);
        INDArray x = Nd4j.randn(DataType.FLOAT, 600, d).muliRowVector(scales);
        CovarianceAccumulator st = stats(x);
        LowRankFactors f = MdSvd.factorize(w, st, rank, MdSvd.DEFAULT_EPS);
        LowRankFactors single = MdSvd.factorizeInFloat32(w, st.covariance(), st.tokens(), rank, MdSvd.DEFAULT_EPS);
        assertEquals(single.truncationLoss(), f.truncationLoss(), 0.0, "the float32 route was taken");
        assertEquals(0.0, single.approximation().sub(f.approximation()).amaxNumber().doubleValue());
        double direct = TruncationLoss.direct(w, f, x);
        assertEquals(direct, f.truncationLoss(), 1e-4 * direct);
    }

    @Test
    void rejectsBadRankShapesAndEmptyStatistics() {
        INDArray w = weight(10, 12, 1);
        CovarianceAccumulator acc = stats(activations(30, 12, 2, 0));
        assertThrows(IllegalArgumentException.class, () -> MdSvd.factorize(w, acc, 11, 0));
        assertThrows(IllegalArgumentException.class, () -> MdSvd.factorize(w, acc, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> MdSvd.factorize(weight(10, 13, 1), acc, 3, 0));
        assertThrows(IllegalArgumentException.class, () -> MdSvd.factorize(w, new CovarianceAccumulator(12), 3, 0));
    }
}
