package org.mha2mla.core.linalg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class LinearAlgebraTest {

    private static double[][] gaussian(int m, int n, long seed) {
        Random r = new Random(seed);
        double[][] a = new double[m][n];
        for (double[] row : a) {
            for (int j = 0; j < n; j++) {
                row[j] = r.nextGaussian();
            }
        }
        return a;
    }

    private static double relFrobenius(INDArray a, INDArray b) {
        return a.sub(b).norm2Number().doubleValue() / b.norm2Number().doubleValue();
    }

    private static double orthonormalityError(INDArray q) {
        int k = (int) q.columns();
        return q.transpose().mmul(q).sub(Nd4j.eye(k).castTo(DataType.DOUBLE)).norm2Number().doubleValue();
    }

    @Test
    void lapackAcceptsBothOrdersAndFloat() {
        // The layout question, measured: a 'c' array, an 'f' array and a float32 array give the same eigenvalues.
        double[][] a = gaussian(7, 7, 1);
        INDArray m = Nd4j.createFromArray(a);
        INDArray sym = m.add(m.transpose());
        double[] c = LinearAlgebra.eigh(sym.dup('c')).valuesArray();
        double[] f = LinearAlgebra.eigh(sym.dup('f')).valuesArray();
        double[] fl = LinearAlgebra.eigh(sym.castTo(DataType.FLOAT)).valuesArray();
        double[] ref = new EigenDecomposition(new Array2DRowRealMatrix(sym.toDoubleMatrix())).getRealEigenvalues();
        java.util.Arrays.sort(ref);
        double[] refDesc = new double[ref.length];
        for (int i = 0; i < ref.length; i++) {
            refDesc[i] = ref[ref.length - 1 - i];
        }
        assertArrayEquals(refDesc, c, 1e-12);
        assertArrayEquals(refDesc, f, 1e-12);
        assertArrayEquals(refDesc, fl, 1e-5); // float32 input rounded, then decomposed in float64
    }

    @Test
    void eighMatchesCommonsMathOn200x200() {
        INDArray m = Nd4j.createFromArray(gaussian(200, 200, 2));
        INDArray sym = m.add(m.transpose());
        INDArray before = sym.dup();
        SymmetricEigen eig = LinearAlgebra.eigh(sym);
        assertEquals(before, sym, "input must not be overwritten by LAPACK");

        double[] values = eig.valuesArray();
        for (int i = 1; i < values.length; i++) {
            assertTrue(values[i - 1] >= values[i], "eigenvalues must be descending at " + i);
        }
        EigenDecomposition ref = new EigenDecomposition(new Array2DRowRealMatrix(sym.toDoubleMatrix()));
        double[] refValues = ref.getRealEigenvalues().clone();
        java.util.Arrays.sort(refValues);
        for (int i = 0; i < values.length; i++) {
            assertEquals(refValues[values.length - 1 - i], values[i], 1e-10, "eigenvalue " + i);
        }
        INDArray v = eig.vectors();
        assertTrue(orthonormalityError(v) < 1e-12, "V orthonormal: " + orthonormalityError(v));
        INDArray rec = v.mulRowVector(eig.values()).mmul(v.transpose());
        assertTrue(relFrobenius(rec, sym) < 1e-12, "reconstruction " + relFrobenius(rec, sym));
        // Eigenvectors agree with commons-math up to sign (eigenvalues of a random matrix are simple).
        for (int i = 0; i < values.length; i += 37) {
            INDArray mine = v.getColumn(i);
            int refIndex = indexOf(ref.getRealEigenvalues(), values[i]);
            INDArray theirs = Nd4j.createFromArray(ref.getEigenvector(refIndex).toArray());
            double dot = Math.abs(mine.mul(theirs).sumNumber().doubleValue());
            assertEquals(1.0, dot, 1e-9, "eigenvector " + i);
        }
    }

    private static int indexOf(double[] values, double target) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (Math.abs(values[i] - target) < Math.abs(values[best] - target)) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void svdTallWideAndSquareAgainstCommonsMath() {
        int[][] shapes = {{100, 60}, {60, 100}, {200, 200}};
        long seed = 10;
        for (int[] shape : shapes) {
            double[][] data = gaussian(shape[0], shape[1], seed++);
            INDArray a = Nd4j.createFromArray(data);
            Svd svd = LinearAlgebra.svd(a);
            int k = Math.min(shape[0], shape[1]);
            assertArrayEquals(new long[] {shape[0], k}, svd.u().shape());
            assertArrayEquals(new long[] {shape[1], k}, svd.v().shape());
            double rec = relFrobenius(svd.reconstruct(), a);
            assertTrue(rec < 1e-10, "reconstruction " + rec + " for " + shape[0] + "x" + shape[1]);
            assertTrue(orthonormalityError(svd.u()) < 1e-12, "U orthonormal");
            assertTrue(orthonormalityError(svd.v()) < 1e-12, "V orthonormal");
            double[] ref = new SingularValueDecomposition(new Array2DRowRealMatrix(data)).getSingularValues();
            assertArrayEquals(ref, svd.s().toDoubleVector(), 1e-10 * ref[0], "singular values " + shape[0] + "x" + shape[1]);
        }
    }

    @Test
    void gramRouteIsAccurateAboveTheGesvdThreshold() {
        // 400x300: min side above GESVD_MAX_DIM, so svd() takes the Gram + QR route. Make it ill-conditioned
        // (σ from 1 down to 1e-6) to check the QR re-orthonormalisation keeps U orthonormal.
        int m = 400;
        int n = 300;
        RealMatrix qa = new org.apache.commons.math3.linear.QRDecomposition(
                new Array2DRowRealMatrix(gaussian(m, n, 5))).getQ();
        RealMatrix qb = new org.apache.commons.math3.linear.QRDecomposition(
                new Array2DRowRealMatrix(gaussian(n, n, 6))).getQ();
        double[] sigma = new double[n];
        for (int i = 0; i < n; i++) {
            sigma[i] = Math.pow(10, -6.0 * i / (n - 1));
        }
        double[][] aData = qa.getSubMatrix(0, m - 1, 0, n - 1)
                .multiply(new org.apache.commons.math3.linear.DiagonalMatrix(sigma))
                .multiply(qb.transpose()).getData();
        INDArray a = Nd4j.createFromArray(aData);
        Svd svd = LinearAlgebra.svd(a);
        // ε·cond(A) = 1e-10 up to a small factor: 2.0e-10 with commons-math's eigen-solver (the path taken where
        // LAPACK is found wrong, see LinearAlgebra), below 1e-10 with a correct dsyev.
        assertTrue(relFrobenius(svd.reconstruct(), a) < 5e-10, "reconstruction " + relFrobenius(svd.reconstruct(), a));
        assertTrue(orthonormalityError(svd.u()) < 1e-12, "U orthonormal " + orthonormalityError(svd.u()));
        assertTrue(orthonormalityError(svd.v()) < 1e-12, "V orthonormal");
        double[] s = svd.s().toDoubleVector();
        // Leading values to 1e-12 relative; the smallest (1e-6) carry an absolute error of order ε·σ_max/σ·σ.
        for (int i = 0; i < n; i++) {
            assertEquals(sigma[i], s[i], 1e-12 + 1e-9 * sigma[i], "sigma " + i);
        }
    }

    @Test
    void truncatedSvdMatchesTheLeadingTriplets() {
        double[][] data = gaussian(150, 90, 7);
        INDArray a = Nd4j.createFromArray(data);
        Svd full = LinearAlgebra.svd(a);
        Svd top = LinearAlgebra.truncatedSvd(a, 20);
        assertArrayEquals(full.s().toDoubleVector(), padTo(top.s().toDoubleVector(), 90, full.s().toDoubleVector()), 1e-10);
        // Same subspace and same signs (sign convention is deterministic): the rank-20 approximations agree.
        assertTrue(relFrobenius(top.reconstruct(), full.truncate(20).reconstruct()) < 1e-10);
        assertTrue(top.u().sub(full.truncate(20).u()).norm2Number().doubleValue() < 1e-8);
        // Wide input goes through the transpose.
        Svd topWide = LinearAlgebra.truncatedSvd(a.transpose(), 20);
        assertTrue(relFrobenius(topWide.reconstruct(), full.truncate(20).reconstruct().transpose()) < 1e-10);
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.truncatedSvd(a, 91));
    }

    private static double[] padTo(double[] head, int n, double[] tail) {
        double[] out = tail.clone();
        System.arraycopy(head, 0, out, 0, head.length);
        return out;
    }

    @Test
    void sqrtInvPsdRegularisesWithMeanDiagonal() {
        double[][] x = gaussian(40, 12, 8);
        INDArray xs = Nd4j.createFromArray(x);
        INDArray cov = xs.transpose().mmul(xs).divi(40);
        double eps = 1e-3;
        INDArray inv = LinearAlgebra.sqrtInvPsd(cov, eps);
        INDArray reg = LinearAlgebra.regularize(cov, eps);
        double meanDiag = 0;
        for (int i = 0; i < 12; i++) {
            meanDiag += cov.getDouble(i, i) / 12;
        }
        assertEquals(cov.getDouble(3, 3) + eps * meanDiag, reg.getDouble(3, 3), 1e-14);
        assertEquals(cov.getDouble(3, 4), reg.getDouble(3, 4), 0.0);
        // inv · reg · inv = I
        INDArray id = inv.mmul(reg).mmul(inv);
        assertTrue(id.sub(Nd4j.eye(12).castTo(DataType.DOUBLE)).norm2Number().doubleValue() < 1e-12);
        INDArray sq = LinearAlgebra.sqrtPsd(cov, eps);
        assertTrue(sq.mmul(sq).sub(reg).norm2Number().doubleValue() < 1e-12 * reg.norm2Number().doubleValue());
        // A singular covariance without ridge is refused with a message, not inverted into Inf.
        INDArray singular = Nd4j.createFromArray(new double[][] {{1, 1}, {1, 1}});
        assertThrows(ArithmeticException.class, () -> LinearAlgebra.sqrtInvPsd(singular, 0));
    }

    @Test
    void rejectsBadShapesAndNonFiniteInput() {
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.eigh(Nd4j.zeros(DataType.DOUBLE, 3, 4)));
        INDArray nan = Nd4j.eye(3).castTo(DataType.DOUBLE);
        nan.putScalar(1, 1, Double.NaN);
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.eigh(nan));
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.svd(Nd4j.zeros(DataType.DOUBLE, 2, 3, 4)));
    }

    @Test
    void eighTopEqualsTheLeadingPairsOfTheFullDecomposition() {
        // A Gram matrix with a decaying spectrum (well separated at the top), as MD-SVD hands it over.
        INDArray x = Nd4j.createFromArray(gaussian(300, 120, 5));
        for (int j = 0; j < 120; j++) {
            x.getColumn(j).muli(1.0 / (1 + j));
        }
        INDArray gram = x.transpose().mmul(x);
        int k = 17;
        SymmetricEigen top = LinearAlgebra.eighTop(gram, k);
        SymmetricEigen all = LinearAlgebra.eigh(gram);
        assertArrayEquals(new long[] {120, k}, top.vectors().shape());
        double[] topValues = top.valuesArray();
        double[] allValues = all.valuesArray();
        for (int i = 0; i < k; i++) {
            assertEquals(allValues[i], topValues[i], 1e-12 * allValues[0], "eigenvalue " + i);
            // same sign convention, so the same vectors
            double diff = top.vectors().getColumn(i).sub(all.vectors().getColumn(i)).norm2Number().doubleValue();
            assertTrue(diff < 1e-9, "eigenvector " + i + ": " + diff);
        }
        assertTrue(orthonormalityError(top.vectors()) < 1e-12);
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.eighTop(gram, 0));
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.eighTop(gram, 121));
    }

    @Test
    void choleskyLowerFactorsPositiveDefiniteAndRejectsSingular() {
        INDArray x = Nd4j.createFromArray(gaussian(200, 80, 6));
        INDArray spd = x.transpose().mmul(x);
        INDArray before = spd.dup();
        INDArray l = LinearAlgebra.choleskyLower(spd);
        assertEquals(before, spd, "input must not be overwritten by LAPACK");
        assertTrue(relFrobenius(l.mmul(l.transpose()), spd) < 1e-14, "L·Lᵀ = A");
        for (int i = 0; i < 80; i++) {
            assertTrue(l.getDouble(i, i) > 0, "positive diagonal at " + i);
            for (int j = i + 1; j < 80; j++) {
                assertEquals(0.0, l.getDouble(i, j), "upper triangle at " + i + "," + j);
            }
        }
        // commons-math's Cholesky as the second implementation
        double[][] ref = new org.apache.commons.math3.linear.CholeskyDecomposition(
                new Array2DRowRealMatrix(spd.toDoubleMatrix())).getL().getData();
        assertTrue(relFrobenius(l, Nd4j.createFromArray(ref)) < 1e-12);
        // 30 samples in 80 dimensions: rank 30, not positive definite
        INDArray thin = Nd4j.createFromArray(gaussian(30, 80, 7));
        assertEquals(null, LinearAlgebra.choleskyLower(thin.transpose().mmul(thin).subi(Nd4j.eye(80).castTo(DataType.DOUBLE).muli(1e-9))));
    }

    @Test
    void choleskyWithARidgeEqualsTheCholeskyOfTheRidgedSymmetrisedMatrix() {
        // The one-pass route (symmetrise, add δ on the diagonal, zeros above) against the two copies it replaces:
        // regularize, then choleskyLower. Bit for bit: the same matrix reaches dpotrf.
        INDArray x = Nd4j.createFromArray(gaussian(150, 90, 21));
        INDArray spd = x.transpose().mmul(x);
        INDArray skewed = spd.add(Nd4j.createFromArray(gaussian(90, 90, 22)).muli(1e-9)); // last-bit asymmetry, as gemm leaves
        double delta = LinearAlgebra.ridge(skewed, 1e-3);
        INDArray before = skewed.dup();
        INDArray l = LinearAlgebra.choleskyLower(skewed, delta);
        assertEquals(before, skewed, "input not overwritten");
        assertEquals(LinearAlgebra.choleskyLower(LinearAlgebra.regularize(skewed, 1e-3)), l);
        INDArray target = skewed.add(skewed.transpose()).muli(0.5).addi(Nd4j.eye(90).castTo(DataType.DOUBLE).muli(delta));
        assertTrue(relFrobenius(l.mmul(l.transpose()), target) < 1e-14, "L·Lᵀ = (A + Aᵀ)/2 + δI");
        for (int i = 0; i < 90; i++) {
            for (int j = i + 1; j < 90; j++) {
                assertEquals(0.0, l.getDouble(i, j), "upper triangle at " + i + "," + j);
            }
        }
        // float32 and column-major inputs take the same values
        assertEquals(LinearAlgebra.choleskyLower(skewed.dup('f'), delta), l);
        INDArray single = skewed.castTo(DataType.FLOAT);
        assertEquals(LinearAlgebra.choleskyLower(single.castTo(DataType.DOUBLE), delta), LinearAlgebra.choleskyLower(single, delta));
        // a ridge makes a singular matrix positive definite; a negative one is refused
        INDArray thin = Nd4j.createFromArray(gaussian(30, 90, 23));
        INDArray singular = thin.transpose().mmul(thin);
        assertEquals(null, LinearAlgebra.choleskyLower(singular.sub(Nd4j.eye(90).castTo(DataType.DOUBLE).muli(1e-9))));
        assertTrue(LinearAlgebra.choleskyLower(singular, LinearAlgebra.ridge(singular, 1e-3)) != null);
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.choleskyLower(spd, -1));
    }

    @Test
    void gramAndTriangularProductEqualTheirGemms() {
        // BLAS dsyrk / dtrmm against ND4J's gemm on the same float64 inputs; float32 input is widened first
        INDArray a = Nd4j.createFromArray(gaussian(300, 70, 8));
        INDArray aBefore = a.dup();
        INDArray gram = LinearAlgebra.gram(a);
        assertTrue(relFrobenius(gram, a.transpose().mmul(a)) < 1e-14, "AᵀA");
        assertEquals(gram, gram.transpose(), "both triangles filled, symmetric");
        assertTrue(relFrobenius(LinearAlgebra.gram(a.castTo(DataType.FLOAT)), a.castTo(DataType.FLOAT).castTo(DataType.DOUBLE)
                .transpose().mmul(a.castTo(DataType.FLOAT).castTo(DataType.DOUBLE))) < 1e-14, "float32 input is widened, not rounded");

        INDArray lower = LinearAlgebra.choleskyLower(gram);
        INDArray withUpper = lower.add(Nd4j.createFromArray(gaussian(70, 70, 9)).muli(upperMask(70)));
        INDArray product = LinearAlgebra.timesLowerTriangular(a, withUpper);
        assertTrue(relFrobenius(product, a.mmul(lower)) < 1e-14, "A·L, entries above L's diagonal ignored");
        assertEquals(aBefore, a, "A is not overwritten");
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.timesLowerTriangular(a, Nd4j.eye(60).castTo(DataType.DOUBLE)));
    }

    @Test
    void float32ProductsEqualTheExactProductsOfTheirInputs() {
        // strmm / ssyrk against the exact products of the same float32 inputs: float32's ~1e-7 relative rounding
        INDArray a = Nd4j.createFromArray(gaussian(300, 70, 10));
        INDArray l32 = LinearAlgebra.choleskyLower(a.transpose().mmul(a)).castTo(DataType.FLOAT);
        // the exact product of the float32 inputs, for L in either memory order (column-major takes the Lᵀ branch)
        INDArray a32 = a.castTo(DataType.FLOAT);
        INDArray exact = a32.castTo(DataType.DOUBLE).mmul(l32.castTo(DataType.DOUBLE));
        for (char order : new char[] {'c', 'f'}) {
            INDArray product = LinearAlgebra.timesLowerTriangular(a32, l32.dup(order), DataType.FLOAT);
            assertEquals(DataType.FLOAT, product.dataType());
            assertTrue(relFrobenius(product.castTo(DataType.DOUBLE), exact) < 1e-6, "A·L with L in order " + order);
        }
        INDArray gram32 = LinearAlgebra.gram(a32, DataType.FLOAT);
        assertEquals(gram32, gram32.transpose(), "both triangles filled, symmetric");
        assertTrue(relFrobenius(gram32.castTo(DataType.DOUBLE), a32.castTo(DataType.DOUBLE).transpose()
                .mmul(a32.castTo(DataType.DOUBLE))) < 1e-6, "AᵀA in float32");
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.gram(a, DataType.HALF));
    }

    @Test
    void eighTopOfGramInFloat32FindsTheKnownSpectrum() {
        // A = Q₁·diag(s)·Q₂ᵀ with orthonormal Q₁ [400, 150] and Q₂ [150, 150]: AᵀA = Q₂·diag(s²)·Q₂ᵀ, so the top pairs
        // are known in closed form (s_i = 2 − i/150: gaps of 0.7 %, float32 vectors good to ~1e-5)
        int n = 150;
        int k = 20;
        INDArray q1 = LinearAlgebra.svd(Nd4j.createFromArray(gaussian(400, n, 11))).u();
        INDArray q2 = LinearAlgebra.svd(Nd4j.createFromArray(gaussian(n, n, 12))).u();
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            s[i] = 2.0 - (double) i / n;
        }
        INDArray a = q1.mulRowVector(Nd4j.createFromArray(s)).mmul(q2.transpose());
        SymmetricEigen top = LinearAlgebra.eighTopOfGram(a, k, DataType.FLOAT);
        assertEquals(DataType.FLOAT, top.vectors().dataType());
        assertArrayEquals(new long[] {n, k}, top.vectors().shape());
        SymmetricEigen reference = LinearAlgebra.eighTopOfGram(a, k, DataType.DOUBLE);
        double[] values = top.valuesArray();
        for (int i = 0; i < k; i++) {
            assertEquals(s[i] * s[i], values[i], 1e-5 * s[0] * s[0], "eigenvalue " + i);
            assertEquals(s[i] * s[i], reference.valuesArray()[i], 1e-12 * s[0] * s[0], "float64 eigenvalue " + i);
            // the same sign convention in both precisions, so the same vectors
            double diff = top.vectors().getColumn(i).castTo(DataType.DOUBLE).sub(reference.vectors().getColumn(i)).norm2Number().doubleValue();
            assertTrue(diff < 1e-4, "eigenvector " + i + ": " + diff);
            double alignment = Math.abs(q2.getColumn(i).mul(reference.vectors().getColumn(i)).sumNumber().doubleValue());
            assertEquals(1.0, alignment, 1e-9, "float64 eigenvector " + i + " against Q₂");
        }
        assertTrue(orthonormalityError(top.vectors().castTo(DataType.DOUBLE)) < 1e-5);
        INDArray nan = a.castTo(DataType.FLOAT);
        nan.putScalar(7, 3, Float.NaN);
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.eighTopOfGram(nan, k, DataType.FLOAT));
        assertThrows(IllegalArgumentException.class, () -> LinearAlgebra.eighTopOfGram(a, n + 1, DataType.FLOAT));
    }

    /** 1 strictly above the diagonal, 0 elsewhere. */
    private static INDArray upperMask(int n) {
        INDArray m = Nd4j.zeros(DataType.DOUBLE, n, n);
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) m.putScalar(i, j, 1.0);
        return m;
    }
}
