package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.function.DoubleUnaryOperator;

import org.apache.commons.math3.special.Erf;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Each activation against its closed form in double precision, over [−8, 8]. */
class ActivationsTest {

    private static double maxErr(String act, DoubleUnaryOperator exact) {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1);
        Activations.apply(sd, act, "y", x);
        INDArray xs = Nd4j.linspace(-8, 8, 4001, DataType.FLOAT);
        INDArray y = sd.output(Map.of("x", xs), "y").get("y");
        double err = 0;
        for (int i = 0; i < xs.length(); i++) {
            err = Math.max(err, Math.abs(y.getDouble(i) - exact.applyAsDouble(xs.getDouble(i))));
        }
        return err;
    }

    @Test
    void geluIsTheExactErfForm() {
        double err = maxErr("gelu", v -> 0.5 * v * (1 + Erf.erf(v / Math.sqrt(2))));
        assertTrue(err < 2e-6, "gelu vs erf form " + err);
        // and measurably not the tanh approximation SameDiff ships (differs by up to ~1e-3 near |x| = 2)
        double vsTanh = maxErr("gelu", v -> 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))));
        assertTrue(vsTanh > 1e-4, "gelu should differ from the tanh form, got " + vsTanh);
    }

    @Test
    void quickGeluSiluAndTanhGelu() {
        assertTrue(maxErr("quick_gelu", v -> v / (1 + Math.exp(-1.702 * v))) < 2e-6);
        assertTrue(maxErr("silu", v -> v / (1 + Math.exp(-v))) < 2e-6);
        assertTrue(maxErr("gelu_pytorch_tanh",
                v -> 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)))) < 2e-6);
    }

    @Test
    void siluGradientIsTheClosedFormAlsoForLargeInputs() {
        // d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x))); SameDiff's own swish gradient is NaN from x = 45 on
        double[] xs = {-100, -50, -8, -1, 0, 1, 8, 44, 45, 50, 100, 1000};
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.var("x", Nd4j.createFromArray(xs).castTo(DataType.FLOAT));
        Activations.apply(sd, "silu", "y", x).sum("loss");
        sd.setLossVariables("loss");
        INDArray g = sd.calculateGradients(Map.of(), "x").get("x");
        for (int i = 0; i < xs.length; i++) {
            double s = 1 / (1 + Math.exp(-xs[i]));
            double exact = s * (1 + xs[i] * (1 - s));
            assertTrue(Math.abs(g.getDouble(i) - exact) < 1e-6, "silu'(" + xs[i] + ") = " + g.getDouble(i) + ", exact " + exact);
        }
    }

    @Test
    void unknownActivationIsRejectedByName() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1);
        var e = assertThrows(IllegalArgumentException.class, () -> Activations.apply(sd, "mish", "y", x));
        assertTrue(e.getMessage().contains("mish"));
    }
}
