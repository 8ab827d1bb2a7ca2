package org.mha2mla.layers.generation;

import java.util.Arrays;

import org.mha2mla.layers.text.DecoderAttention.CacheTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A cache tensor in any layout seen as one row per token: the sequence axis first, the other axes (batch
 * included) flattened in C order, e.g. GQA's key [B, n_kv, T, d_h] → T rows of B·n_kv·d_h values.
 */
final class TokenRows {

    private final CacheTensor spec;
    private final int[] perm;
    private final int[] inverse;
    private final long[] otherDims;
    final int rowLength;

    private TokenRows(CacheTensor spec, long[] shape) {
        this.spec = spec;
        int rank = shape.length;
        int seq = spec.seqAxis();
        perm = new int[rank];
        otherDims = new long[rank - 1];
        perm[0] = seq;
        long row = 1;
        for (int a = 0, k = 1; a < rank; a++) {
            if (a == seq) continue;
            perm[k] = a;
            otherDims[k - 1] = shape[a];
            row *= shape[a];
            k++;
        }
        inverse = new int[rank];
        for (int i = 0; i < rank; i++) inverse[perm[i]] = i;
        rowLength = Math.toIntExact(row);
    }

    /** The layout of {@code x}, one of {@code spec}'s tensors (its fixed axes must match the declared shape). */
    static TokenRows of(CacheTensor spec, INDArray x) {
        long[] declared = spec.shape();
        long[] shape = x.shape();
        boolean ok = shape.length == declared.length;
        for (int a = 0; ok && a < shape.length; a++) ok = declared[a] < 0 || declared[a] == shape[a];
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

    /** The rows of tokens [from, to) of {@code x}, flat [(to − from) · rowLength]. */
    float[] rows(INDArray x, int from, int to) {
        INDArray part = from == 0 && to == tokens(x) ? x : x.get(along(x.rank(), NDArrayIndex.interval(from, to)));
        return part.permute(perm).dup('c').castTo(DataType.FLOAT).reshape((long) (to - from) * rowLength).toFloatVector();
    }

    /** The tensor in its own layout from flat rows of {@code tokens} tokens (a fresh c-order array). */
    INDArray tensor(float[] flat, int tokens) {
        long[] permuted = new long[otherDims.length + 1];
        permuted[0] = tokens;
        System.arraycopy(otherDims, 0, permuted, 1, otherDims.length);
        return Nd4j.create(flat, permuted, DataType.FLOAT).permute(inverse).dup('c');
    }

    /** {@code x} restricted to the tokens at {@code indices} along the sequence axis (fresh c-order). */
    INDArray select(INDArray x, int[] indices) {
        long[] idx = new long[indices.length];
        for (int i = 0; i < idx.length; i++) idx[i] = indices[i];
        return x.get(along(x.rank(), NDArrayIndex.indices(idx))).dup('c');
    }

    private INDArrayIndex[] along(int rank, INDArrayIndex seqIndex) {
        INDArrayIndex[] index = new INDArrayIndex[rank];
        for (int a = 0; a < rank; a++) index[a] = a == spec.seqAxis() ? seqIndex : NDArrayIndex.all();
        return index;
    }
}
