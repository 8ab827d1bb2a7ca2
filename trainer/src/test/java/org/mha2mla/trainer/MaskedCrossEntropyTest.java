package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class MaskedCrossEntropyTest {

    private static final long I = LossMask.IGNORE_INDEX;
    private static final int V = 7;

    /**
     * The loss and its gradients against closed forms over the supervised rows x_r of the hidden states: CE = lse(W·x)
     * − (W·x)[label], ∂/∂x = Wᵀ(softmax − onehot), ∂/∂W = Σ_r (softmax − onehot)·x_rᵀ, and zero gradient on every
     * unsupervised row.
     */
    @Test
    void sumOfSupervisedCrossEntropiesAndTheirGradientOnly() {
        Nd4j.getRandom().setSeed(42);
        int d = 5;
        INDArray h = Nd4j.rand(DataType.FLOAT, 2, 4, d).muli(2).subi(1);
        INDArray w = Nd4j.rand(DataType.FLOAT, V, d).muli(2).subi(1);
        long[][] targets = {{3, I, 0, I}, {I, 6, I, 2}};
        SameDiff sd = SameDiff.create();
        SDVariable hidden = sd.var("hidden", h.dup());
        SDVariable head = sd.var("head", w.dup());
        MaskedCrossEntropy.build(sd, hidden, head, d);
        Map<String, INDArray> feed = MaskedCrossEntropy.feed(targets, V);
        Map<String, INDArray> out = sd.output(feed, MaskedCrossEntropy.LOSS, MaskedCrossEntropy.PER_POSITION);
        Map<String, INDArray> grads = sd.calculateGradients(feed, "hidden", "head");

        double expected = 0;
        double[][][] gh = new double[2][4][d];
        double[][] gw = new double[V][d];
        for (int b = 0; b < 2; b++) {
            for (int t = 0; t < 4; t++) {
                if (targets[b][t] == I) continue;
                double[] z = new double[V];
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < V; v++) {
                    for (int k = 0; k < d; k++) z[v] += w.getDouble(v, k) * h.getDouble(b, t, k);
                    max = Math.max(max, z[v]);
                }
                double sum = 0;
                for (int v = 0; v < V; v++) sum += Math.exp(z[v] - max);
                double lse = max + Math.log(sum);
                expected += lse - z[(int) targets[b][t]];
                for (int v = 0; v < V; v++) {
                    double p = Math.exp(z[v] - lse) - (v == targets[b][t] ? 1 : 0);
                    for (int k = 0; k < d; k++) {
                        gh[b][t][k] += p * w.getDouble(v, k);
                        gw[v][k] += p * h.getDouble(b, t, k);
                    }
                }
            }
        }
        assertEquals(4, out.get(MaskedCrossEntropy.PER_POSITION).length(), "one entry per supervised position");
        assertEquals(expected, MaskedCrossEntropy.supervisedSum(out.get(MaskedCrossEntropy.PER_POSITION)), 1e-5);
        assertEquals(expected, out.get(MaskedCrossEntropy.LOSS).getDouble(0), 1e-5);
        assertEquals(0, grads.get("hidden").castTo(DataType.DOUBLE).sub(Nd4j.create(gh)).amaxNumber().doubleValue(), 1e-6);
        assertEquals(0, grads.get("head").castTo(DataType.DOUBLE).sub(Nd4j.create(gw)).amaxNumber().doubleValue(), 1e-6);
        assertEquals(4, MaskedCrossEntropy.countSupervised(targets));
    }

    @Test
    void rejectsLabelsOutsideTheVocabularyAndBatchesWithoutSupervision() {
        assertThrows(IllegalArgumentException.class, () -> MaskedCrossEntropy.feed(new long[][]{{I, V}}, V));
        assertThrows(IllegalArgumentException.class, () -> MaskedCrossEntropy.feed(new long[][]{{I, I}}, V));
        assertThrows(IllegalArgumentException.class, () -> MaskedCrossEntropy.feed(new long[][]{{I, 1}, {2}}, V));
    }
}
