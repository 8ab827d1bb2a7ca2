package org.mha2mla.layers.generation;

import java.util.Arrays;

import org.mha2mla.layers.text.DecoderAttention.CacheTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A cache tensor in any layout seen as one row per token: the sequence axis first, the other axes (batch
 * included) flattened in C order, e.g. GQA's key [B, n_kv, T, d_h] → T rows of B·n_kv·d_h values.
 *
 * <p>In C order a tensor is [outer, T, inner] (outer = the axes before the sequence axis, inner = those after),
 * so token t's row is {@code outer} runs of {@code inner} values. The copies run in plain Java: ND4J's permute,
 * interval and index views cost milliseconds per call on these small tensors, several times a step.
 */
final class TokenRows {

    private final CacheTensor spec;
    private final long[] shape;
    private final int outer;
    private final int inner;
    final int rowLength;

    private TokenRows(CacheTensor spec, long[] shape) {
        this.spec = spec;
        this.shape = shape.clone();
        long o = 1;
        long i = 1;
        for (int a = 0; a < shape.length; a++) {
            if (a < spec.seqAxis()) o *= shape[a];
            if (a > spec.seqAxis()) i *= shape[a];
        }
        outer = Math.toIntExact(o);
        inner = Math.toIntExact(i);
        rowLength = Math.toIntExact(o * i);
    }

    /** The layout of {@code x}, one of {@code spec}'s tensors (its fixed axes must match the declared shape). */
    static TokenRows of(CacheTensor spec, INDArray x) {
        long[] declared = spec.shape();
        long[] shape = x.shape();
        boolean ok = shape.length == declared.length;
        for (int a = 0; ok && a < shape.length; a++) ok = a == spec.seqAxis() || declared[a] < 0 || declared[a] == shape[a];
        if (!ok) {
            throw new IllegalArgumentException("cache tensor '" + spec.name() + "' has shape " + Arrays.toString(shape)
                    + ", declared " + Arrays.toString(declared));
        }
        return new TokenRows(spec, shape);
    }

    /** Tokens along the sequence axis. */
    int tokens(INDArray x) {
        return (int) x.size(spec.seqAxis());
    }

    private static float[] values(INDArray x) {
        INDArray c = x.dataType() == DataType.FLOAT ? x : x.castTo(DataType.FLOAT);
        return c.dup('c').reshape(c.length()).toFloatVector();
    }

    /** The rows of tokens [from, to) of {@code x}, flat [(to − from) · rowLength]. */
    float[] rows(INDArray x, int from, int to) {
        float[] all = values(x);
        int t = tokens(x);
        float[] out = new float[(to - from) * rowLength];
        for (int k = from; k < to; k++) {
            for (int o = 0; o < outer; o++) {
                System.arraycopy(all, (o * t + k) * inner, out, (k - from) * rowLength + o * inner, inner);
            }
        }
        return out;
    }

    /** The tensor in its own layout from flat rows of {@code tokens} tokens (a fresh c-order array). */
    INDArray tensor(float[] rows, int tokens) {
        float[] all = new float[tokens * rowLength];
        for (int k = 0; k < tokens; k++) {
            for (int o = 0; o < outer; o++) {
                System.arraycopy(rows, k * rowLength + o * inner, all, (o * tokens + k) * inner, inner);
            }
        }
        long[] s = shape.clone();
        s[spec.seqAxis()] = tokens;
        return Nd4j.create(all, s, DataType.FLOAT);
    }

    /** {@code x} restricted to the tokens at {@code indices} along the sequence axis (fresh c-order). */
    INDArray select(INDArray x, int[] indices) {
        float[] all = values(x);
        int t = tokens(x);
        int k = indices.length;
        float[] out = new float[k * rowLength];
        for (int o = 0; o < outer; o++) {
            for (int j = 0; j < k; j++) {
                System.arraycopy(all, (o * t + indices[j]) * inner, out, (o * k + j) * inner, inner);
            }
        }
        long[] s = shape.clone();
        s[spec.seqAxis()] = k;
        return Nd4j.create(out, s, DataType.FLOAT);
    }
}
