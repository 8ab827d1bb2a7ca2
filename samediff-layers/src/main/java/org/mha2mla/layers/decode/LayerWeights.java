package org.mha2mla.layers.decode;

import java.util.Arrays;

import org.mha2mla.core.tensor.Kernels;
import org.mha2mla.core.tensor.MatVec;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.layers.text.LayerwiseDecoder;

/**
 * The stored weights a decode step reads, by checkpoint key: matrices stay in their stored precision (read by
 * {@link MatVec} once per step), vectors (norms, biases) are widened to float32 once.
 */
final class LayerWeights {

    private final LayerwiseDecoder decoder;

    LayerWeights(LayerwiseDecoder decoder) {
        this.decoder = decoder;
    }

    boolean has(String key) {
        return decoder.weights().contains(key);
    }

    /** A matrix [rows, cols] in its stored precision, open until the decoder closes. */
    StoredTensor matrix(String key, long rows, long cols) {
        if (!has(key)) throw new IllegalArgumentException("weight '" + key + "' is missing from the checkpoint (expected shape [" + rows + ", " + cols + "])");
        StoredTensor t = decoder.stored(key);
        if (t.rows() != rows || t.cols() != cols) {
            throw new IllegalArgumentException("weight '" + key + "' has shape " + Arrays.toString(t.shape()) + ", expected [" + rows + ", " + cols + "]");
        }
        return t;
    }

    /** A vector of n values as float32. */
    float[] vector(String key, long n) {
        if (!has(key)) throw new IllegalArgumentException("weight '" + key + "' is missing from the checkpoint (expected shape [" + n + "])");
        StoredTensor t = decoder.stored(key);
        if (t.numel() != n) throw new IllegalArgumentException("weight '" + key + "' has shape " + Arrays.toString(t.shape()) + ", expected [" + n + "]");
        float[] v = new float[(int) n];
        t.rowsInto(0, 1, v, 0);
        return v;
    }

    /** {@link #vector} when the checkpoint has the key, else null. */
    float[] optionalVector(String key, long n) {
        return has(key) ? vector(key, n) : null;
    }

    /** y[b·n + i] += bias[i] for every batch row (bias may be null). */
    static void addBias(float[] bias, float[] y, int batch) {
        if (bias == null) return;
        Kernels k = Kernels.get();
        for (int b = 0; b < batch; b++) k.axpy(1f, bias, 0, y, b * bias.length, bias.length);
    }

    /** y = x·Wᵀ + bias for the batch. */
    static void linear(StoredTensor w, float[] bias, float[] x, int batch, float[] y) {
        MatVec.apply(w, x, batch, y, null);
        addBias(bias, y, batch);
    }

    /** Grows a scratch array to at least n floats. */
    static float[] ensure(float[] a, int n) {
        return a != null && a.length >= n ? a : new float[n];
    }
}
