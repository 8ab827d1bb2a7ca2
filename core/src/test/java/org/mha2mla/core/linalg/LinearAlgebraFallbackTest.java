package org.mha2mla.core.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The checks that catch a wrong LAPACK result, and the commons-math / Gram–Schmidt paths taken then, on matrices
 * built from known factors (random orthogonal Q, chosen spectrum): the answers are known in closed form.
 */
class LinearAlgebraFallbackTest {

    private static RealMatrix orthogonal(int m, int n, long seed) {
        Random r = new Random(seed);
        double[][] g = new double[m][n];
        for (double[] row : g) for (int j = 0; j < n; j++) row[j] = r.nextGaussian();
        return new QRDecomposition(new Array2DRowRealMatrix(g)).getQ().getSubMatrix(0, m - 1, 0, n - 1);
    }

    private static double[] spectrum(int n, double smallest) {
        double[] s = new double[n];
        for (int i = 0; i < n; i++) s[i] = Math.pow(smallest, (double) i / (n - 1));
        return s;
    }

    private static INDArray product(RealMatrix u, double[] s, RealMatrix v) {
        return Nd4j.createFromArray(u.multiply(new org.apache.commons.math3.linear.DiagonalMatrix(s)).multiply(v.transpose()).getData());
    }

    @Test
    void commonsMathEighReturnsTheKnownSpectrumDescending() {
        int n = 60;
        RealMatrix q = orthogonal(n, n, 1);
        double[] lambda = spectrum(n, 1e-4);
        INDArray a = product(q, lambda, q);
        SymmetricEigen e = LinearAlgebra.eighByCommonsMath(a);
        double[] got = e.valuesArray();
        for (int i = 0; i < n; i++) assertEquals(lambda[i], got[i], 1e-13, "eigenvalue " + i);
        assertTrue(LinearAlgebra.eigenDefect(a, e.vectors(), got) < 1e-12, "defect " + LinearAlgebra.eigenDefect(a, e.vectors(), got));
    }

    @Test
    void commonsMathSvdReturnsTheKnownSingularValues() {
        RealMatrix u = orthogonal(120, 80, 2);
        RealMatrix v = orthogonal(80, 80, 3);
        double[] sigma = spectrum(80, 1e-5);
        INDArray a = product(u, sigma, v);
        Svd svd = LinearAlgebra.svdByCommonsMath(a);
        double[] got = svd.s().toDoubleVector();
        for (int i = 0; i < 80; i++) assertEquals(sigma[i], got[i], 1e-13, "sigma " + i);
        assertTrue(LinearAlgebra.svdDefect(a, svd.u(), svd.s(), svd.v()) < 1e-12);
        assertEquals(120, svd.u().rows());
        assertEquals(80, svd.u().columns());
    }

    @Test
    void gramSchmidtTwiceIsOrthonormalOnNearlyDependentColumns() {
        // Columns of norms 1 … 1e-6 that are nearly orthogonal, as A·V is in the Gram route.
        RealMatrix u = orthogonal(300, 40, 4);
        double[] sigma = spectrum(40, 1e-6);
        RealMatrix skew = orthogonal(40, 40, 5).scalarMultiply(1e-3).add(org.apache.commons.math3.linear.MatrixUtils.createRealIdentityMatrix(40));
        INDArray b = product(u, sigma, skew.transpose());
        INDArray q = LinearAlgebra.gramSchmidtTwice(b);
        assertTrue(LinearAlgebra.orthonormalityDefect(q) < 1e-13, "defect " + LinearAlgebra.orthonormalityDefect(q));
        // Same span: projecting b onto Q's columns gives b back.
        INDArray back = q.mmul(q.transpose().mmul(b));
        assertTrue(back.sub(b).norm2Number().doubleValue() < 1e-12 * b.norm2Number().doubleValue());
        // Column signs follow b's (Q·R with R's diagonal positive).
        for (int j = 0; j < 40; j++) assertTrue(q.getColumn(j).mul(b.getColumn(j)).sumNumber().doubleValue() > 0, "sign of column " + j);
    }

    @Test
    void theChecksRejectWrongFactors() {
        int n = 30;
        RealMatrix q = orthogonal(n, n, 6);
        double[] lambda = spectrum(n, 1e-2);
        INDArray a = product(q, lambda, q);
        INDArray v = Nd4j.createFromArray(q.getData());
        assertTrue(LinearAlgebra.eigenDefect(a, v, lambda) < 1e-13);
        // Two eigenvectors swapped against their values: a residual of order λ₀ − λ₁.
        INDArray swapped = v.dup();
        swapped.putColumn(0, v.getColumn(1));
        swapped.putColumn(1, v.getColumn(0));
        assertTrue(LinearAlgebra.eigenDefect(a, swapped, lambda) > 1e-3);
        // Vectors that are not orthonormal (what the broken dsyev returned) fail even with a small residual.
        assertTrue(LinearAlgebra.orthonormalityDefect(v.mul(1.01)) > 1e-3);
        INDArray s = Nd4j.createFromArray(lambda);
        assertTrue(LinearAlgebra.svdDefect(a, v, s, v) < 1e-13);
        assertTrue(LinearAlgebra.svdDefect(a, swapped, s, v) > 1e-3);
    }
}
