package org.mha2mla.layers.text;

import java.util.Arrays;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.Rope;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The cos/sin tables a decoder pass takes as placeholders, shaped [B|1, 1|heads, L, d_h]: core's
 * {@link CosSin} [L, d_h] per sequence with a batch and a (broadcast) head axis added. Partial RoPE may
 * fill the head axis per head.
 */
public record RopeTables(INDArray cos, INDArray sin) {

    public RopeTables {
        if (cos.rank() != 4 || !Arrays.equals(cos.shape(), sin.shape())) {
            throw new IllegalArgumentException("cos/sin must both be [B|1, 1|heads, L, d_h], got "
                    + Arrays.toString(cos.shape()) + " and " + Arrays.toString(sin.shape()));
        }
    }

    /** One sequence's tables [L, d_h] as [1, 1, L, d_h]. */
    public static RopeTables of(CosSin table) {
        long[] shape = {1, 1, table.length(), table.headDim()};
        return new RopeTables(table.cos().reshape(shape), table.sin().reshape(shape));
    }

    /** A batch of sequences' tables (equal lengths, e.g. left-padded) as [B, 1, L, d_h]. */
    public static RopeTables of(CosSin... tables) {
        INDArray[] cos = new INDArray[tables.length];
        INDArray[] sin = new INDArray[tables.length];
        for (int b = 0; b < tables.length; b++) {
            RopeTables t = of(tables[b]);
            cos[b] = t.cos();
            sin[b] = t.sin();
        }
        return new RopeTables(Nd4j.concat(0, cos), Nd4j.concat(0, sin));
    }

    /** 1-D RoPE of the text config (core {@link Rope}, float32 like LlamaRotaryEmbedding) at the given positions. */
    public static RopeTables forPositions(TextConfig config, long[] positions) {
        return of(Rope.cosSin(positions, config.headDim(), config.ropeTheta()));
    }

    /** Positions start, start+1, …, start+count−1. */
    public static RopeTables forRange(TextConfig config, long start, int count) {
        return of(Rope.cosSin(start, count, config.headDim(), config.ropeTheta()));
    }

    /** The tables of sequence positions [from, to) (copies). */
    public RopeTables positions(int from, int to) {
        return new RopeTables(slice(cos, from, to), slice(sin, from, to));
    }

    private static INDArray slice(INDArray t, int from, int to) {
        return t.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup();
    }
}
