package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class AdamWTest {

    /** torch.optim.AdamW (single tensor, no amsgrad) for one scalar parameter, in double. */
    private static double[] reference(double p, double[] grads, double[] lrs, AdamW.Config c, boolean decay) {
        double m = 0;
        double v = 0;
        double[] out = new double[grads.length];
        for (int t = 1; t <= grads.length; t++) {
            double g = grads[t - 1];
            double lr = lrs[t - 1];
            if (decay) p *= 1 - lr * c.weightDecay();
            m = m + (g - m) * (1 - c.beta1());
            v = v * c.beta2() + (1 - c.beta2()) * g * g;
            double denom = Math.sqrt(v) / Math.sqrt(1 - Math.pow(c.beta2(), t)) + c.eps();
            p -= lr / (1 - Math.pow(c.beta1(), t)) * m / denom;
            out[t - 1] = p;
        }
        return out;
    }

    @Test
    void matchesTorchAdamWStepForStepWithDecayOnMatricesOnly() {
        AdamW.Config c = AdamW.Config.defaults(0.1);
        Nd4j.getRandom().setSeed(3);
        INDArray w0 = Nd4j.rand(DataType.FLOAT, 3, 4).subi(0.5);
        INDArray b0 = Nd4j.rand(DataType.FLOAT, 4).subi(0.5);
        INDArray[] gw = new INDArray[5];
        INDArray[] gb = new INDArray[5];
        double[] lrs = {1e-3, 2e-3, 3e-3, 3e-3, 1e-3};
        for (int s = 0; s < 5; s++) {
            gw[s] = Nd4j.rand(DataType.FLOAT, 3, 4).subi(0.5);
            gb[s] = Nd4j.rand(DataType.FLOAT, 4).subi(0.5);
        }
        Map<String, INDArray> params = new LinkedHashMap<>();
        params.put("w", w0.dup());
        params.put("b", b0.dup());
        AdamW opt = new AdamW(c, Map.of("w", new long[]{3, 4}, "b", new long[]{4}));
        for (int s = 0; s < 5; s++) opt.update(params, Map.of("w", gw[s], "b", gb[s]), lrs[s]);
        assertEquals(5, opt.step());
        for (int i = 0; i < 12; i++) {
            double[] g = new double[5];
            for (int s = 0; s < 5; s++) g[s] = gw[s].getDouble(i);
            double[] ref = reference(w0.getDouble(i), g, lrs, c, true);
            assertEquals(ref[4], params.get("w").getDouble(i), 2e-7);
        }
        for (int i = 0; i < 4; i++) {
            double[] g = new double[5];
            for (int s = 0; s < 5; s++) g[s] = gb[s].getDouble(i);
            assertEquals(reference(b0.getDouble(i), g, lrs, c, false)[4], params.get("b").getDouble(i), 2e-7);
        }
    }

    @Test
    void firstStepMovesEveryWeightByAboutLrAgainstItsGradient() {
        // t = 1: m̂ = g, v̂ = g² ⇒ Δ = −lr · g / (|g| + ε) (no decay here)
        AdamW opt = new AdamW(AdamW.Config.defaults(0), Map.of("w", new long[]{2}));
        Map<String, INDArray> p = Map.of("w", Nd4j.createFromArray(1f, 1f));
        opt.update(p, Map.of("w", Nd4j.createFromArray(0.5f, -2f)), 0.01);
        assertEquals(1 - 0.01 * 0.5 / (0.5 + 1e-8), p.get("w").getDouble(0), 1e-7);
        assertEquals(1 + 0.01 * 2 / (2 + 1e-8), p.get("w").getDouble(1), 1e-7);
    }

    @Test
    void restoredStateContinuesBitwise() {
        AdamW.Config c = AdamW.Config.defaults(0.01);
        Nd4j.getRandom().setSeed(9);
        INDArray w0 = Nd4j.rand(DataType.FLOAT, 2, 3);
        INDArray[] g = {Nd4j.rand(DataType.FLOAT, 2, 3), Nd4j.rand(DataType.FLOAT, 2, 3), Nd4j.rand(DataType.FLOAT, 2, 3)};
        Map<String, INDArray> a = Map.of("w", w0.dup());
        AdamW straight = new AdamW(c, Map.of("w", new long[]{2, 3}));
        for (INDArray gi : g) straight.update(a, Map.of("w", gi), 1e-2);

        Map<String, INDArray> b = Map.of("w", w0.dup());
        AdamW first = new AdamW(c, Map.of("w", new long[]{2, 3}));
        first.update(b, Map.of("w", g[0]), 1e-2);
        AdamW resumed = new AdamW(c, Map.of("w", new long[]{2, 3}));
        resumed.restore(first.step(), Map.of("w", first.firstMoment("w").dup()), Map.of("w", first.secondMoment("w").dup()));
        resumed.update(b, Map.of("w", g[1]), 1e-2);
        resumed.update(b, Map.of("w", g[2]), 1e-2);
        assertEquals(a.get("w"), b.get("w"));
        assertThrows(IllegalArgumentException.class,
                () -> resumed.restore(1, Map.of("w", Nd4j.zeros(DataType.FLOAT, 3, 2)), Map.of("w", Nd4j.zeros(DataType.FLOAT, 2, 3))));
    }
}
