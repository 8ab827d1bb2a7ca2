package org.mha2mla.layers.text;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/** LlamaMLP / Qwen2MLP: {@code down_proj(act(gate_proj(x)) · up_proj(x))}, act = silu for both families. */
public final class SwiGluMlp {

    private final SameDiff sd;
    private final Linear gate;
    private final Linear up;
    private final Linear down;
    private final String hiddenAct;
    private final long hidden;

    /** {@code key} is the module prefix, e.g. {@code language_model.model.layers.0.mlp}. */
    public SwiGluMlp(SameDiff sd, String key, long hidden, long intermediate, String hiddenAct, boolean bias) {
        this.sd = sd;
        this.gate = Linear.of(sd, key + ".gate_proj", hidden, intermediate, bias);
        this.up = Linear.of(sd, key + ".up_proj", hidden, intermediate, bias);
        this.down = Linear.of(sd, key + ".down_proj", intermediate, hidden, bias);
        this.hiddenAct = hiddenAct;
        this.hidden = hidden;
    }

    /** x [..., hidden] → [..., hidden], computed on x's rows ({@link Rows}). */
    public SDVariable forward(String name, SDVariable x) {
        SDVariable rows = Rows.of(sd, x, hidden);
        SDVariable g = Activations.apply(sd, hiddenAct, name + "/act", gate.onRows(rows));
        SDVariable u = up.onRows(rows);
        return Rows.restore(sd, name, down.onRows(g.mul(u)), Rows.lead(sd, x), hidden);
    }
}
