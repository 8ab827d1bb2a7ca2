package org.mha2mla.layers.text;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * transformers' ACT2FN by name, built from elementary ops so each matches torch exactly. Measured on
 * SameDiff M2.1: {@code sd.nn().gelu} is the sigmoid approximation x·σ(1.702x) (= quick_gelu, 2e-7), and
 * {@code preciseGelu} is neither the erf nor the tanh form (3e-2 off both), so "gelu" (torch's nn.GELU
 * default, used by the LLaVA projector) is written out with erf.
 */
public final class Activations {

    private Activations() {
    }

    public static SDVariable apply(SameDiff sd, String hiddenAct, String name, SDVariable x) {
        switch (hiddenAct) {
            case "silu":
            case "swish":
                // x·σ(x), not sd.nn().swish: M2.1's swish backward is e^x(x + e^x + 1)/(e^x + 1)², which overflows
                // to NaN for x ≥ 45 in float (measured), so one large gate pre-activation made every gradient below
                // it NaN. σ's own derivative σ(1 − σ) is finite everywhere (taken from σ: SigmoidFromOutput).
                return x.mul(name, SigmoidFromOutput.apply(sd, x));
            case "gelu":
                return geluErf(sd, name, x);
            case "quick_gelu":
                return x.mul(name, SigmoidFromOutput.apply(sd, x.mul(1.702)));
            case "gelu_pytorch_tanh":
            case "gelu_new":
                return geluTanh(sd, name, x);
            case "relu":
                return sd.nn().relu(name, x, 0.0);
            default:
                throw new IllegalArgumentException("unsupported activation '" + hiddenAct
                        + "' (supported: silu, gelu, quick_gelu, gelu_pytorch_tanh, gelu_new, relu)");
        }
    }

    /** 0.5·x·(1 + erf(x/√2)): torch.nn.functional.gelu(approximate="none"). */
    static SDVariable geluErf(SameDiff sd, String name, SDVariable x) {
        SDVariable erf = sd.math().erf(x.mul(1.0 / Math.sqrt(2.0)));
        return x.mul(0.5).mul(name, erf.add(1.0));
    }

    /** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): gelu(approximate="tanh"). */
    static SDVariable geluTanh(SameDiff sd, String name, SDVariable x) {
        SDVariable inner = x.add(sd.math().cube(x).mul(0.044715)).mul(Math.sqrt(2.0 / Math.PI));
        return x.mul(0.5).mul(name, sd.math().tanh(inner).add(1.0));
    }
}
