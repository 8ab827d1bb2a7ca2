package org.mha2mla.trainer;

import java.util.HashMap;
import java.util.Map;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Next-token cross-entropy over the supervised (assistant) positions only, as a SameDiff loss. The graph's loss
 * is the <em>sum</em> over supervised positions p of {@code logsumexp(logits[p]) − logits[p, label_p]}; the
 * caller divides the gradients by the supervised tokens of the whole optimizer step, so the micro-batches of a
 * step together give the token mean over the step (what HF's Trainer does with {@code num_items_in_batch}),
 * not a mean of micro-batch means.
 *
 * <p>Why this shape (SameDiff M2.1 backprop, measured against finite differences):
 * <ul>
 * <li>{@code sparseSoftmaxCrossEntropy}'s gradient ignores the gradient arriving from above (it is right only
 * when that is 1), so the loss variable must be the plain sum of its per-position output: no weights, no
 * scaling after it. The normalisation is applied to the gradients outside the graph.</li>
 * <li>Unsupervised rows are multiplied by 0 before the loss (the {@link #KEEP} mask): their cross-entropy is
 * then the constant log(vocab) and the mask zeroes their gradient on the way back, so they contribute nothing.
 * The alternatives fail: the gradient of {@code gather} (selecting supervised rows) is wrong or throws, and a
 * one-hot label tensor costs B·L·vocab floats.</li>
 * </ul>
 * The reported loss value is summed from {@link #PER_POSITION} over the supervised rows in double precision,
 * not from {@link #LOSS}, which also holds the masked rows' constant log(vocab) terms.
 */
public final class MaskedCrossEntropy {

    /** INT [B·L]: the label of every position (0 where unsupervised). */
    public static final String LABELS = "loss/labels";
    /** FLOAT [B·L, 1]: 1 on supervised positions, 0 elsewhere. */
    public static final String KEEP = "loss/keep";
    /** Cross-entropy of every position [B·L] (log(vocab) on unsupervised ones). */
    public static final String PER_POSITION = "loss/per_position";
    /** The scalar loss variable: the sum of {@link #PER_POSITION}. */
    public static final String LOSS = "loss";

    private MaskedCrossEntropy() {
    }

    /** Adds the loss on {@code logits} [B, L, vocab] to {@code sd}, marks it the loss variable and returns it. */
    public static SDVariable build(SameDiff sd, SDVariable logits, long vocab) {
        SDVariable labels = sd.placeHolder(LABELS, DataType.INT, -1);
        SDVariable keep = sd.placeHolder(KEEP, DataType.FLOAT, -1, 1);
        SDVariable flat = sd.reshape("loss/logits_2d", logits, -1, vocab);
        SDVariable masked = flat.mul("loss/masked_logits", keep);
        SDVariable perPosition = sd.loss().sparseSoftmaxCrossEntropy(PER_POSITION, masked, labels);
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
        int[] labels = new int[targets.length * length];
        float[] keep = new float[labels.length];
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
                labels[b * length + t] = (int) label;
                keep[b * length + t] = 1f;
            }
        }
        if (countSupervised(targets) == 0) {
            throw new IllegalArgumentException("micro-batch has no supervised position (every label is " + LossMask.IGNORE_INDEX + ")");
        }
        Map<String, INDArray> feed = new HashMap<>();
        feed.put(LABELS, Nd4j.createFromArray(labels));
        feed.put(KEEP, Nd4j.createFromArray(keep).reshape(keep.length, 1));
        return feed;
    }

    /** Σ of {@link #PER_POSITION} over the supervised positions, in double. */
    public static double supervisedSum(INDArray perPosition, long[][] targets) {
        int length = targets[0].length;
        double sum = 0;
        for (int b = 0; b < targets.length; b++) {
            for (int t = 0; t < length; t++) {
                if (targets[b][t] != LossMask.IGNORE_INDEX) sum += perPosition.getDouble((long) b * length + t);
            }
        }
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
