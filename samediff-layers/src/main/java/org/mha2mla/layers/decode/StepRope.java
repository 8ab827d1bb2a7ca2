package org.mha2mla.layers.decode;

import org.mha2mla.layers.text.RopeTables;

/**
 * The RoPE tables of a decode step's token, one row of d_h cos and sin values per sequence (or one row shared by
 * all): 1-D RoPE at the token's position, or M-RoPE with the three axes already merged into the table. In the
 * rotate_half layout: pair i is dims {i, i + d_h/2}.
 */
public record StepRope(float[] cos, float[] sin, int rows, int headDim) {

    public StepRope {
        if (cos.length != rows * headDim || sin.length != rows * headDim) {
            throw new IllegalArgumentException("step RoPE tables of " + rows + " rows of " + headDim + " hold " + cos.length + " / " + sin.length + " values");
        }
    }

    /** The tables of one position [B|1, 1, 1, d_h] as a model's {@code stepRope} gives them. */
    public static StepRope of(RopeTables tables) {
        long[] s = tables.cos().shape();
        if (s[1] != 1 || s[2] != 1) {
            throw new IllegalArgumentException("a decode step takes RoPE tables [B|1, 1, 1, d_h], got " + java.util.Arrays.toString(s));
        }
        return new StepRope(tables.cos().dup('c').reshape(-1).toFloatVector(), tables.sin().dup('c').reshape(-1).toFloatVector(),
                (int) s[0], (int) s[3]);
    }

    /** Offset of sequence b's row. */
    int offset(int b) {
        return rows == 1 ? 0 : b * headDim;
    }

    /**
     * Rotates the d-wide vector {@code x[offset …]} (pair i = {i, i + d/2}) in place, taking pair i's angle from
     * table dims {@code dims[i]} and {@code dims[i + d/2]} of sequence b ({@code dims} null: dims i and i + d/2), and
     * skipping pairs with {@code kept[i]} false (partial RoPE: the NoPE dims are not rotated). As
     * apply_rotary_pos_emb: x·cos + rotate_half(x)·sin.
     */
    void rotate(float[] x, int offset, int d, int b, int[] dims, boolean[] kept) {
        int half = d / 2;
        int t = offset(b);
        for (int i = 0; i < half; i++) {
            if (kept != null && !kept[i]) continue;
            int lo = t + (dims == null ? i : dims[i]);
            int hi = t + (dims == null ? i + half : dims[i + half]);
            float x0 = x[offset + i];
            float x1 = x[offset + i + half];
            x[offset + i] = x0 * cos[lo] - x1 * sin[lo];
            x[offset + i + half] = x1 * cos[hi] + x0 * sin[hi];
        }
    }
}
