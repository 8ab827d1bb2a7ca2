package org.mha2mla.trainer;

import java.util.HashMap;
import java.util.Map;

import org.mha2mla.layers.text.LinearMatmul;
import org.mha2mla.layers.text.Rows;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Next-token cross-entropy over the supervised (assistant) positions only, as a SameDiff loss on the final hidden
 * states: the supervised rows are picked first and only they go through the lm_head,
 * <pre>
 *   rows = S · h          S [N, B·L] 0/1 selects the N supervised positions of h [B·L, d] (after the final norm)
 *   z    = rows · W_headᵀ                        logits of the supervised positions only [N, vocab]
 *   loss = Σ_n logsumexp(z_n) − z_n[label_n]
 * </pre>
 * so the lm_head costs N/(B·L) of a full pass, forward and backward (a quarter in the benchmarks, where the last
 * quarter of each sequence is supervised; the prompt and image tokens of an instruction sample are not). The graph's
 * loss is the <em>sum</em>; the caller divides the gradients by the supervised tokens of the whole optimizer step, so
 * the micro-batches of a step together give the token mean over the step (what HF's Trainer does with
 * {@code num_items_in_batch}), not a mean of micro-batch means.
 *
 * <p>Why this shape (SameDiff M2.1 backprop, measured against finite differences):
 * <ul>
 * <li>{@code sparseSoftmaxCrossEntropy}'s gradient ignores the gradient arriving from above (it is right only when that
 * is 1), so the loss variable must be the plain sum of its per-position output: no weights, no scaling after it. The
 * normalisation is applied to the gradients outside the graph.</li>
 * <li>The rows are picked by a matmul with a 0/1 matrix, not a {@code gather}, whose gradient in M2.1 is wrong or throws
 * in these graphs; the matmul costs N·B·L·d, little next to the lm_head's N·vocab·d it saves on every unsupervised row.</li>
 * </ul>
 */
public final class MaskedCrossEntropy {

    /** INT [N]: the label of every supervised position, in row-major (batch, position) order. */
    public static final String LABELS = "loss/labels";
    /** FLOAT [N, B·L]: row n is 1 at the n-th supervised position. */
    public static final String SELECT = "loss/select";
    /** Cross-entropy of every supervised position [N]. */
    public static final String PER_POSITION = "loss/per_position";
    /** The scalar loss variable: the sum of {@link #PER_POSITION}. */
    public static final String LOSS = "loss";

    private MaskedCrossEntropy() {
    }

    /**
     * Adds the loss on the final hidden states {@code hidden} [B, L, d] (after the final norm) and the lm_head weight
     * {@code lmHead} [vocab, d] to {@code sd}, marks it the loss variable and returns it.
     */
    public static SDVariable build(SameDiff sd, SDVariable hidden, SDVariable lmHead, long hiddenSize) {
        SDVariable labels = sd.placeHolder(LABELS, DataType.INT, -1);
        SDVariable select = sd.placeHolder(SELECT, DataType.FLOAT, -1, -1);
        SDVariable rows = sd.mmul("loss/rows", select, Rows.of(sd, hidden, hiddenSize));
        SDVariable logits = LinearMatmul.apply(sd, rows, lmHead);
        SDVariable perPosition = sd.loss().sparseSoftmaxCrossEntropy(PER_POSITION, logits, labels);
        SDVariable loss = sd.sum(LOSS, perPosition, false, 0);
        sd.setLossVariables(loss);
        return loss;
    }

    /**
     * The placeholders for one micro-batch. {@code targets[b][t]} is the label position t must predict (the
     * next token, already shifted; {@link LossMask#IGNORE_INDEX} where unsupervised).
     */
    public static Map<String, INDArray> feed(long[][] targets, long vocab) {
        int length = targets[0].length;
        int n = countSupervised(targets);
        if (n == 0) {
            throw new IllegalArgumentException("micro-batch has no supervised position (every label is " + LossMask.IGNORE_INDEX + ")");
        }
        int[] labels = new int[n];
        float[] select = new float[n * targets.length * length];
        int row = 0;
        for (int b = 0; b < targets.length; b++) {
            if (targets[b].length != length) {
                throw new IllegalArgumentException("target rows differ in length: " + targets[b].length + " vs " + length);
            }
            for (int t = 0; t < length; t++) {
                long label = targets[b][t];
                if (label == LossMask.IGNORE_INDEX) continue;
                if (label < 0 || label >= vocab) {
                    throw new IllegalArgumentException("label " + label + " at [" + b + ", " + t + "] is outside the vocabulary [0, "
                            + vocab + ")");
                }
                labels[row] = (int) label;
                select[row * targets.length * length + b * length + t] = 1f;
                row++;
            }
        }
        Map<String, INDArray> feed = new HashMap<>();
        feed.put(LABELS, Nd4j.createFromArray(labels));
        feed.put(SELECT, Nd4j.create(select, new long[]{n, (long) targets.length * length}, 'c'));
        return feed;
    }

    /** Σ of {@link #PER_POSITION} (every entry is a supervised position), in double. */
    public static double supervisedSum(INDArray perPosition) {
        double sum = 0;
        for (long i = 0; i < perPosition.length(); i++) sum += perPosition.getDouble(i);
        return sum;
    }

    /** Supervised positions (labels other than −100). */
    public static int countSupervised(long[][] targets) {
        int n = 0;
        for (long[] row : targets) {
            for (long l : row) if (l != LossMask.IGNORE_INDEX) n++;
        }
        return n;
    }
}
