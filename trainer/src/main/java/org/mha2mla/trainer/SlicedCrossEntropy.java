package org.mha2mla.trainer;

import org.mha2mla.core.tensor.StoredTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The lm_head and the next-token cross-entropy of a few hidden-state rows, and the gradient of their sum with respect
 * to those rows, reading the lm_head in its stored precision one vocabulary slice at a time: no float32 copy of the
 * whole head (2.2 GB for Qwen2.5-VL-7B's bf16 [152064, 3584]) and no weight gradient for it. For rows x_r (the
 * final-norm output of the supervised positions) with labels y_r:
 * <pre>
 *   z_r = W·x_r                                   logits, one vocabulary slice of W at a time
 *   CE  = Σ_r logsumexp(z_r) − z_r[y_r]
 *   ∂CE/∂x_r = Wᵀ·(softmax(z_r) − onehot(y_r))    accumulated over the same slices
 * </pre>
 * Rows go in blocks whose logits fit {@link #ROW_BLOCK_BYTES}; every block reads the head twice (logits, then the
 * gradient), widening each slice into one reused buffer.
 */
public final class SlicedCrossEntropy {

    /** Logits of a block of rows at once: 256 MB (420 rows of a 152k vocabulary). */
    static final long ROW_BLOCK_BYTES = 256L << 20;
    /** Rows of the head widened at once: 64 MB (4681 rows at d = 3584), as {@code LayerwiseDecoder}'s logits. */
    static final long SLICE_BYTES = 64L << 20;

    private SlicedCrossEntropy() {
    }

    /**
     * Σ_r CE of {@code rows} [S, d] against {@code labels} [S] under {@code head} [vocab, d] (in double), and
     * ∂/∂rows into {@code gradient} [S, d].
     */
    public static double lossAndGradient(INDArray rows, int[] labels, StoredTensor head, INDArray gradient) {
        long vocab = head.rows();
        long d = head.cols();
        return lossAndGradient(rows, labels, head, gradient, (int) Math.max(1, ROW_BLOCK_BYTES / (4 * vocab)),
                (int) Math.max(1, Math.min(vocab, SLICE_BYTES / (4 * d))));
    }

    /** As above with {@code block} rows and {@code slice} head rows at a time. */
    static double lossAndGradient(INDArray rows, int[] labels, StoredTensor head, INDArray gradient, int blockRows, int slice) {
        long s = rows.size(0);
        long d = rows.size(1);
        long vocab = head.rows();
        if (head.cols() != d || labels.length != s || gradient.size(0) != s || gradient.size(1) != d) {
            throw new IllegalArgumentException("lm_head " + java.util.Arrays.toString(head.shape()) + " against rows [" + s + ", " + d
                    + "], " + labels.length + " labels and a gradient " + java.util.Arrays.toString(gradient.shape()));
        }
        int block = (int) Math.min(s, blockRows);
        INDArray w = Nd4j.createUninitialized(DataType.FLOAT, slice, d);
        double sum = 0;
        for (long r0 = 0; r0 < s; r0 += block) {
            int n = (int) Math.min(block, s - r0);
            INDArray x = rows.get(NDArrayIndex.interval(r0, r0 + n), NDArrayIndex.all());
            INDArray z = Nd4j.createUninitialized(DataType.FLOAT, n, vocab);
            for (long v = 0; v < vocab; v += slice) {
                INDArray part = widen(head, v, slice, w);
                z.get(NDArrayIndex.all(), NDArrayIndex.interval(v, v + part.size(0))).assign(x.mmul(part.transpose()));
            }
            // softmax with the row maximum taken out; CE_r = log Σ exp(z − max) − (z[y] − max), in double
            INDArray max = z.max(1);
            z.subiColumnVector(max);
            double[] target = new double[n];
            for (int r = 0; r < n; r++) target[r] = z.getDouble(r, labels[(int) r0 + r]);
            Transforms.exp(z, false);
            INDArray norm = z.sum(1);
            z.diviColumnVector(norm);
            for (int r = 0; r < n; r++) {
                sum += Math.log(norm.getDouble(r)) - target[r];
                z.putScalar(r, labels[(int) r0 + r], z.getDouble(r, labels[(int) r0 + r]) - 1.0);
            }
            INDArray g = gradient.get(NDArrayIndex.interval(r0, r0 + n), NDArrayIndex.all());
            g.assign(0);
            for (long v = 0; v < vocab; v += slice) {
                INDArray part = widen(head, v, slice, w);
                g.addi(z.get(NDArrayIndex.all(), NDArrayIndex.interval(v, v + part.size(0))).mmul(part));
            }
            z.close();
        }
        return sum;
    }

    /** Rows [v, v + slice) of the head (fewer at the end) widened into {@code buffer} or, for the last slice, a fresh array. */
    private static INDArray widen(StoredTensor head, long v, int slice, INDArray buffer) {
        int n = (int) Math.min(slice, head.rows() - v);
        INDArray part = n == slice ? buffer : Nd4j.createUninitialized(DataType.FLOAT, n, head.cols());
        head.widenRowsInto(v, n, part);
        return part;
    }
}
