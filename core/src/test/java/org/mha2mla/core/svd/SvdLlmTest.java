package org.mha2mla.core.svd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class SvdLlmTest {

    @Test
    void jointEqualsAlgorithm1OnAllTokensTogether() {
        int d = 20;
        INDArray w = MdSvdTest.weight(12, d, 1);
        INDArray text = MdSvdTest.activations(200, d, 2, 0.0);
        INDArray visual = MdSvdTest.activations(300, d, 3, 2.0);
        ModalityCovariance stats = new ModalityCovariance(d);
        stats.add(text, new boolean[200]);
        boolean[] vis = new boolean[300];
        java.util.Arrays.fill(vis, true);
        stats.add(visual, vis);
        LowRankFactors joint = SvdLlm.factorize(w, stats, 5, 0.0);

        // Second route: covariance of the concatenated activations, Alg. 1 via commons-math.
        INDArray all = Nd4j.vstack(text, visual);
        var ref = MdSvdTest.algorithm1(w, all, 5);
        INDArray refProduct = Nd4j.createFromArray(ref[0].multiply(ref[1]).getData());
        double rel = joint.approximation().sub(refProduct).norm2Number().doubleValue() / refProduct.norm2Number().doubleValue();
        assertTrue(rel < 1e-9, "joint vs Alg. 1 on all tokens: " + rel);
        double direct = TruncationLoss.direct(w, joint, all);
        assertEquals(direct, joint.truncationLoss(), 1e-8 * direct);
        assertEquals(500, stats.allTokens().tokens());
    }
}
