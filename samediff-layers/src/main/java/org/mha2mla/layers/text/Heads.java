package org.mha2mla.layers.text;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Head reshapes with a dynamic batch and sequence length: {@code view(B, L, n, d).transpose(1, 2)} and back.
 * B and L are read from the tensor at run time (two unknown axes, so a -1 alone cannot express them).
 */
public final class Heads {

    private Heads() {
    }

    /** [B, L, n·d] → [B, n, L, d]. */
    public static SDVariable split(SameDiff sd, String name, SDVariable x, int n, int d) {
        SDVariable batchAndLength = sd.slice(x.shape(), new int[]{0}, 2);
        SDVariable shape = sd.concat(0, batchAndLength, sd.constant(Nd4j.createFromArray((long) n, (long) d)));
        return sd.permute(name, sd.reshape(x, shape), 0, 2, 1, 3);
    }

    /** [B, n, L, d] → [B, L, n·d]. */
    public static SDVariable merge(SameDiff sd, String name, SDVariable x, int n, int d) {
        SDVariable t = sd.permute(x, 0, 2, 1, 3);
        SDVariable batchAndLength = sd.slice(t.shape(), new int[]{0}, 2);
        SDVariable shape = sd.concat(0, batchAndLength, sd.constant(Nd4j.createFromArray((long) n * d)));
        return sd.reshape(name, t, shape);
    }

    /**
     * repeat_kv: [B, n_kv, T, d] → [B, n_kv·g, T, d], query head h reading KV head h / g (the layout of
     * torch's expand + reshape). Written as a gather over the head axis, which needs no dynamic shape.
     */
    public static SDVariable repeatKv(SameDiff sd, String name, SDVariable kv, int nKv, int groups) {
        if (groups == 1) {
            return kv;
        }
        int[] index = new int[nKv * groups];
        for (int h = 0; h < index.length; h++) {
            index[h] = h / groups;
        }
        return sd.gather(name, kv, index, 1);
    }
}
