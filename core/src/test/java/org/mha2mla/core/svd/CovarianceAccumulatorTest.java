package org.mha2mla.core.svd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class CovarianceAccumulatorTest {

    @Test
    void chunksAddUpToTheWholeGramInFloat64() {
        INDArray x = MdSvdTest.activations(250, 16, 1, 0.7).castTo(DataType.FLOAT);
        CovarianceAccumulator acc = new CovarianceAccumulator(16);
        acc.add(x.get(NDArrayIndex.interval(0, 100), NDArrayIndex.all()));
        acc.add(x.get(NDArrayIndex.interval(100, 250), NDArrayIndex.all()));
        assertEquals(250, acc.tokens());
        // Reference: the float32 values, multiplied and summed in plain double loops.
        float[][] xf = x.toFloatMatrix();
        double[][] ref = new double[16][16];
        for (float[] row : xf) {
            for (int i = 0; i < 16; i++) {
                for (int j = 0; j < 16; j++) {
                    ref[i][j] += (double) row[i] * row[j];
                }
            }
        }
        INDArray sum = acc.sum();
        assertEquals(DataType.DOUBLE, sum.dataType());
        for (int i = 0; i < 16; i++) {
            for (int j = 0; j < 16; j++) {
                assertEquals(ref[i][j], sum.getDouble(i, j), 1e-10 * Math.abs(ref[i][i]));
                assertEquals(ref[i][j] / 250, acc.covariance().getDouble(i, j), 1e-10 * Math.abs(ref[i][i]));
            }
        }
    }

    @Test
    void outputEnergyIsTheSquaredNormOfWX() {
        // Σ (WᵀW ∘ XᵀX) against ‖X Wᵀ‖²_F formed directly, with WᵀW in float64 and in float32
        INDArray x = MdSvdTest.activations(120, 24, 3, 0.4);
        INDArray w = MdSvdTest.weight(10, 24, 4);
        CovarianceAccumulator acc = new CovarianceAccumulator(24);
        acc.add(x);
        double direct = Math.pow(x.mmul(w.transpose()).norm2Number().doubleValue(), 2);
        assertEquals(direct, acc.outputEnergy(w.transpose().mmul(w)), 1e-12 * direct);
        assertEquals(direct, acc.outputEnergy(w.transpose().mmul(w).castTo(DataType.FLOAT)), 1e-6 * direct);
        assertEquals(0.0, new CovarianceAccumulator(24).outputEnergy(w.transpose().mmul(w)), "no tokens, no energy");
        assertThrows(IllegalArgumentException.class, () -> acc.outputEnergy(w.mmul(w.transpose())));
    }

    @Test
    void maskedRowsMergeAndModalitySplit() {
        INDArray x = MdSvdTest.activations(10, 4, 2, 0);
        boolean[] visual = {true, false, false, true, true, false, false, false, true, false};
        ModalityCovariance mc = new ModalityCovariance(4);
        mc.add(x, visual);
        assertEquals(4, mc.visual().tokens());
        assertEquals(6, mc.text().tokens());
        CovarianceAccumulator all = new CovarianceAccumulator(4);
        all.add(x);
        INDArray merged = mc.allTokens().sum();
        assertTrue(merged.sub(all.sum()).norm2Number().doubleValue() < 1e-12);
        INDArray v = x.getRows(0, 3, 4, 8);
        assertTrue(mc.visual().sum().sub(v.transpose().mmul(v)).norm2Number().doubleValue() < 1e-12);
        assertThrows(IllegalArgumentException.class, () -> all.add(Nd4j.zeros(DataType.DOUBLE, 3, 5)));
        assertThrows(IllegalArgumentException.class, () -> all.add(x, new boolean[3]));
        assertThrows(IllegalStateException.class, () -> new CovarianceAccumulator(3).covariance());
    }

    /** What another machine sends back: the same float64 sums and counts, bit for bit. */
    @Test
    void statisticsSurviveJavaSerialization() throws Exception {
        INDArray x = Nd4j.rand(DataType.FLOAT, 7, 5);
        ModalityCovariance cov = new ModalityCovariance(5);
        cov.add(x, new boolean[]{true, false, false, true, true, false, true});
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(bytes)) {
            out.writeObject(cov);
        }
        ModalityCovariance back;
        try (java.io.ObjectInputStream in = new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray()))) {
            back = (ModalityCovariance) in.readObject();
        }
        assertEquals(4, back.visual().tokens());
        assertEquals(3, back.text().tokens());
        assertEquals(cov.visual().sum(), back.visual().sum());
        assertEquals(cov.text().sum(), back.text().sum());
        assertEquals(cov.allTokens().sum(), back.addAll(new ModalityCovariance(5)).allTokens().sum());
    }
}
