package org.mha2mla.layers.text;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * LlamaRMSNorm / Qwen2RMSNorm: {@code w · x · rsqrt(mean(x²) + ε)} over the last axis (float32 throughout).
 *
 * <p>Written on rows [N, hidden] with the row statistic and the weight spread by matmuls instead of broadcasting
 * multiplies: SameDiff M2.1 differentiates a broadcasting multiply with a generic reduction over the broadcast axes,
 * slower than the GEMMs that differentiate these matmuls (one norm of [16, 100, 256], forward + backward, one OpenMP
 * thread as in the demo: 24–33 ms broadcasting, 6–24 ms this way; {@code benchmarks/pretrain/run.sh --rmsnorm}).
 * Same values up to float summation order. Rows in, rows out ({@link Rows}): a norm between a residual and a
 * projection reshapes nothing.
 */
public final class RmsNorm {

    private final SameDiff sd;
    private final SDVariable weight;
    private final long hidden;
    private final double eps;

    public RmsNorm(SameDiff sd, String key, long hidden, double eps) {
        this.sd = sd;
        this.weight = Params.get(sd, key, hidden);
        this.hidden = hidden;
        this.eps = eps;
    }

    public SDVariable forward(String name, SDVariable x) {
        SDVariable rows = Rows.of(sd, x, hidden);
        SDVariable meanColumn = sd.constant(Nd4j.valueArrayOf(new long[] {hidden, 1}, 1.0 / hidden, DataType.FLOAT));
        SDVariable onesRow = sd.constant(Nd4j.ones(DataType.FLOAT, 1, hidden));
        SDVariable inverseRms = sd.math().rsqrt(sd.mmul(rows.mul(rows), meanColumn).add(eps));
        SDVariable perElement = sd.mmul(inverseRms, onesRow);
        // A column of ones as long as the input (sd.onesLike works too but warns on the console at every graph build).
        SDVariable onesColumn = inverseRms.mul(0.0).add(1.0);
        SDVariable weightRows = sd.mmul(onesColumn, weight.reshape(1, hidden));
        return Rows.restore(sd, name, rows.mul(perElement).mul(weightRows), Rows.lead(sd, x), hidden);
    }
}
