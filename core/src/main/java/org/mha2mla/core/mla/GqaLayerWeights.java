package org.mha2mla.core.mla;

import java.util.Arrays;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The q/k/v projections of one MHA/GQA decoder layer in the Hugging Face Linear layout ([out, in], y = x·Wᵀ + b).
 * Head h owns rows h·d_h … (h+1)·d_h − 1; query head h reads KV head h / (n_h / n_kv). Biases are null when the
 * model has none (Llama); Qwen2 has all three.
 */
public record GqaLayerWeights(INDArray qProj, INDArray qBias, INDArray kProj, INDArray kBias, INDArray vProj, INDArray vBias,
                              int numHeads, int kvHeads, int headDim) {

    public GqaLayerWeights {
        if (numHeads <= 0 || kvHeads <= 0 || numHeads % kvHeads != 0 || headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("n_h = " + numHeads + ", n_kv = " + kvHeads + ", d_h = " + headDim
                    + ": need n_h a positive multiple of n_kv and an even d_h");
        }
        long d = qProj.columns();
        requireShape(qProj, "q_proj.weight", (long) numHeads * headDim, d);
        requireShape(kProj, "k_proj.weight", (long) kvHeads * headDim, d);
        requireShape(vProj, "v_proj.weight", (long) kvHeads * headDim, d);
        requireLength(qBias, "q_proj.bias", (long) numHeads * headDim);
        requireLength(kBias, "k_proj.bias", (long) kvHeads * headDim);
        requireLength(vBias, "v_proj.bias", (long) kvHeads * headDim);
    }

    /** Hidden size d (the input width of every projection). */
    public int hiddenSize() {
        return (int) qProj.columns();
    }

    /** Query heads per KV head. */
    public int groupSize() {
        return numHeads / kvHeads;
    }

    static void requireShape(INDArray a, String name, long rows, long cols) {
        if (a == null || a.rank() != 2 || a.rows() != rows || a.columns() != cols) {
            throw new IllegalArgumentException(name + " has shape " + (a == null ? "null" : Arrays.toString(a.shape()))
                    + ", expected [" + rows + ", " + cols + "]");
        }
    }

    static void requireLength(INDArray a, String name, long length) {
        if (a != null && a.length() != length) {
            throw new IllegalArgumentException(name + " has shape " + Arrays.toString(a.shape()) + ", expected [" + length + "]");
        }
    }
}
