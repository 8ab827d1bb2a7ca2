package org.mha2mla.layers.text;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * apply_rotary_pos_emb of modeling_llama.py in the rotate_half layout (pair k = dims {k, k + d_h/2}):
 * {@code x·cos + rotate_half(x)·sin}. cos/sin come from outside the graph ([B|1, 1|heads, L, d_h]), so the
 * same code serves 1-D RoPE, M-RoPE (sections already merged into the table) and partial RoPE (cos 1 /
 * sin 0 on the NoPE dims).
 */
public final class RotaryEmbedding {

    private RotaryEmbedding() {
    }

    /** rotate_half: cat(−x₂, x₁) with x₁, x₂ the two halves of the last axis. */
    public static SDVariable rotateHalf(SameDiff sd, SDVariable x) {
        SDVariable[] halves = sd.split(x, 2, -1);
        return sd.concat(-1, halves[1].neg(), halves[0]);
    }

    public static SDVariable apply(SameDiff sd, String name, SDVariable x, SDVariable cos, SDVariable sin) {
        SDVariable zeros = sd.fill(x.shape(), x.dataType(), 0);
        return rotate(sd, name, x, zeros.add(cos), zeros.add(sin));
    }

    /**
     * Like {@link #apply(SameDiff, String, SDVariable, SDVariable, SDVariable)} for x [B, heads, L, d_h], the tables
     * spread once per graph for all inputs of that many heads (every layer's queries, every layer's keys) instead of
     * once per call: three graph ops and two table-sized writes per call fewer.
     */
    public static SDVariable apply(SameDiff sd, String name, SDVariable x, SDVariable cos, SDVariable sin, int heads) {
        SDVariable zeros = Rows.shared(sd, cos.name() + "/zeros_h" + heads, () -> sd.fill(x.shape(), x.dataType(), 0));
        return rotate(sd, name, x, Rows.shared(sd, cos.name() + "/spread_h" + heads, () -> zeros.add(cos)),
                Rows.shared(sd, sin.name() + "/spread_h" + heads, () -> zeros.add(sin)));
    }

    /**
     * x·cos + rotate_half(x)·sin with the tables spread to x's full shape (adding exact zeros: the values do not
     * change), because a product that broadcasts over heads makes ND4J M2.1's multiply_bp tile the table per call
     * through a generic index loop, several times slower (benchmarks/pretrain/README.md). The spreading needs no
     * gradient: the tables are placeholders.
     */
    private static SDVariable rotate(SameDiff sd, String name, SDVariable x, SDVariable cosFull, SDVariable sinFull) {
        return x.mul(cosFull).add(name, rotateHalf(sd, x).mul(sinFull));
    }
}
