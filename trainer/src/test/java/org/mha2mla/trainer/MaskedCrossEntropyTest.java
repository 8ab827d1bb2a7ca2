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

    /** The loss and its gradient w.r.t. the logits against closed forms: CE = lse − x_label, ∂/∂x = softmax − onehot. */
    @Test
    void sumOfSupervisedCrossEntropiesAndTheirGradientOnly() {
        Nd4j.getRandom().setSeed(42);
        INDArray x = Nd4j.rand(DataType.FLOAT, 2, 4, V).muli(6).subi(3);
        long[][] targets = {{3, I, 0, I}, {I, 6, I, 2}};
        SameDiff sd = SameDiff.create();
        SDVariable logits = sd.var("logits", x.dup());
        MaskedCrossEntropy.build(sd, logits, V);
        Map<String, INDArray> feed = MaskedCrossEntropy.feed(targets, V);
        Map<String, INDArray> out = sd.output(feed, MaskedCrossEntropy.LOSS, MaskedCrossEntropy.PER_POSITION);
        Map<String, INDArray> grads = sd.calculateGradients(feed, "logits");

        double expected = 0;
        double expectedAll = 0;
        INDArray expectedGrad = Nd4j.zeros(DataType.DOUBLE, 2, 4, V);
        for (int b = 0; b < 2; b++) {
            for (int t = 0; t < 4; t++) {
                if (targets[b][t] == I) {
                    expectedAll += Math.log(V);            // masked row: logits·0 → uniform softmax
                    continue;
                }
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < V; v++) max = Math.max(max, x.getDouble(b, t, v));
                double z = 0;
                for (int v = 0; v < V; v++) z += Math.exp(x.getDouble(b, t, v) - max);
                double lse = max + Math.log(z);
                double ce = lse - x.getDouble(b, t, targets[b][t]);
                expected += ce;
                expectedAll += ce;
                for (int v = 0; v < V; v++) {
                    double p = Math.exp(x.getDouble(b, t, v) - lse);
                    expectedGrad.putScalar(new long[]{b, t, v}, p - (v == targets[b][t] ? 1 : 0));
                }
            }
        }
        assertEquals(expected, MaskedCrossEntropy.supervisedSum(out.get(MaskedCrossEntropy.PER_POSITION), targets), 1e-5);
        assertEquals(expectedAll, out.get(MaskedCrossEntropy.LOSS).getDouble(0), 1e-4);
        INDArray g = grads.get("logits").castTo(DataType.DOUBLE);
        assertEquals(0, g.sub(expectedGrad).amaxNumber().doubleValue(), 1e-6);
        assertEquals(4, MaskedCrossEntropy.countSupervised(targets));
    }

    @Test
    void rejectsLabelsOutsideTheVocabularyAndBatchesWithoutSupervision() {
        assertThrows(IllegalArgumentException.class, () -> MaskedCrossEntropy.feed(new long[][]{{I, V}}, V));
        assertThrows(IllegalArgumentException.class, () -> MaskedCrossEntropy.feed(new long[][]{{I, I}}, V));
        assertThrows(IllegalArgumentException.class, () -> MaskedCrossEntropy.feed(new long[][]{{I, 1}, {2}}, V));
    }
}
