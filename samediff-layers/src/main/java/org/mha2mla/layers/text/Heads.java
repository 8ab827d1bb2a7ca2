package org.mha2mla.layers.text;

import java.util.Arrays;

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

    /** [B, L, n·d] → [B, n, L, d]; a tensor made from rows (a projection's output) is split from its rows ({@link Rows}). */
    public static SDVariable split(SameDiff sd, String name, SDVariable x, int n, int d) {
        if (Rows.known(sd, x)) {
            SDVariable rows = Rows.of(sd, x, (long) n * d);
            return sd.permute(name, sd.reshape(rows, Rows.shape(sd, Rows.lead(sd, x), n, d)), 0, 2, 1, 3);
        }
        SDVariable batchAndLength = sd.slice(x.shape(), new int[]{0}, 2);
        SDVariable shape = sd.concat(0, batchAndLength, sd.constant(Nd4j.createFromArray((long) n, (long) d)));
        return sd.permute(name, sd.reshape(x, shape), 0, 2, 1, 3);
    }

    /**
     * [B, n, L, d] → [B, L, n·d] for the leading shape {@code lead} = [B, L], made from rows [B·L, n·d] that a
     * projection of the result takes as they are ({@link Rows}).
     */
    public static SDVariable merge(SameDiff sd, String name, SDVariable x, SDVariable lead, int n, int d) {
        SDVariable rows = sd.reshape(sd.permute(x, 0, 2, 1, 3), -1, (long) n * d);
        return Rows.restore(sd, name, rows, lead, (long) n * d);
    }

    /** [B, n, L, d] → [B, L, n·d]. */
    public static SDVariable merge(SameDiff sd, String name, SDVariable x, int n, int d) {
        SDVariable t = sd.permute(x, 0, 2, 1, 3);
        SDVariable batchAndLength = sd.slice(t.shape(), new int[]{0}, 2);
        SDVariable shape = sd.concat(0, batchAndLength, sd.constant(Nd4j.createFromArray((long) n * d)));
        return sd.reshape(name, t, shape);
    }

    /**
     * {@code softmax(Q·Kᵀ/√d + mask)·V} for grouped-query attention, equal to transformers' repeat_kv followed
     * by plain attention. Query head h = j·g + i reads KV head j, so q [B, n_kv·g, L, d] is viewed as
     * [B, n_kv, g·L, d]: every group's queries attend to their one KV head in a single batched matmul, and
     * K/V are never repeated. (A gather over the head axis would also do, but SameDiff M2.1 cannot
     * differentiate a graph with two gathers: their gradients both claim the node name "transposeConcat".)
     *
     * @param q    [B, n_kv·g, L, d]
     * @param k    [B, n_kv, T, d]
     * @param v    [B, n_kv, T, d_v]
     * @param mask additive [B, 1, L, T]
     * @return the output [B, n_kv·g, L, d_v] and the probabilities [B, n_kv·g, L, T]
     */
    public static Attention groupedAttention(SameDiff sd, String scope, SDVariable q, SDVariable k, SDVariable v,
                                              SDVariable mask, int nKv, int groups, int d, int dV) {
        double scale = 1.0 / Math.sqrt(d);
        if (groups == 1) {
            SDVariable scores = sd.mmul(scope + "/scores", q, k, false, true, false).mul(scale);
            SDVariable probs = sd.nn().softmax(scope + "/probs", scores.add(mask), -1);
            return new Attention(sd.mmul(probs, v), probs);
        }
        SDVariable batch = sd.slice(q.shape(), new int[]{0}, 1);
        SDVariable keys = sd.slice(k.shape(), new int[]{2}, 1);
        SDVariable qg = sd.reshape(q, sd.concat(0, batch, longs(sd, nKv, -1, d)));            // [B, n_kv, g·L, d]
        SDVariable scores = sd.mmul(qg, k, false, true, false).mul(scale);                     // [B, n_kv, g·L, T]
        // Row i·L + l of a KV head is query head i's row l, so the mask repeated g times along its rows fits every
        // group: the scores are masked as they are, not reshaped per group and back. Each such reshape copied the
        // whole [B, n_kv, g·L, T] scores (about 0.15 s per layer of a 2,959-token LLaVA-NeXT pass); the mask's copies
        // are g·L·T values, not n_kv·g·L·T. A concat, not tile: SameDiff's tile took 85 ms per call at that size.
        // One per graph for all layers (they share the mask).
        SDVariable groupMask = Rows.shared(sd, mask.name() + "/groups" + groups, () -> {       // [B, 1, g·L, T]
            SDVariable[] copies = new SDVariable[groups];
            Arrays.fill(copies, mask);
            return sd.concat(2, copies);
        });
        SDVariable flat = sd.nn().softmax(scope + "/probs", scores.add(groupMask), -1);       // [B, n_kv, g·L, T]
        SDVariable out = sd.mmul(flat, v);                                                     // [B, n_kv, g·L, d_v]
        SDVariable heads = longs(sd, (long) nKv * groups, -1);
        return new Attention(sd.reshape(out, sd.concat(0, batch, heads, longs(sd, dV))),
                sd.reshape(flat, sd.concat(0, batch, heads, keys)));
    }

    /** An attention's output [B, n_h, L, d_v] and its probabilities [B, n_h, L, T]. */
    public record Attention(SDVariable output, SDVariable probs) {
    }

    private static SDVariable longs(SameDiff sd, long... v) {
        return sd.constant(Nd4j.createFromArray(v));
    }
}
