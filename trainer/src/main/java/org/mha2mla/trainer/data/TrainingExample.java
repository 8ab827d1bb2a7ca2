package org.mha2mla.trainer.data;

import java.util.Arrays;

import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.trainer.LossMask;

/**
 * One tokenized conversation ready for the model: the processor's input (image tokens expanded, pixel values)
 * and HF-style labels (the token on assistant positions, −100 elsewhere; not shifted).
 */
public record TrainingExample(String id, MultimodalInput input, long[] labels) {

    public TrainingExample {
        if (input.length() != labels.length) {
            throw new IllegalArgumentException("sample '" + id + "': " + input.length() + " input ids but " + labels.length + " labels");
        }
    }

    public int length() {
        return labels.length;
    }

    /** Next-token targets (labels shifted left by one). */
    public long[] targets() {
        return LossMask.shift(labels);
    }

    /** Positions with a next-token target. */
    public int supervisedTokens() {
        int n = 0;
        for (long t : targets()) if (t != LossMask.IGNORE_INDEX) n++;
        return n;
    }

    /** Why {@link #capped} dropped a sample. */
    public enum Drop { IMAGE_CUT, NO_SUPERVISED_TOKEN }

    /** The outcome of capping: the (possibly truncated) example, or why it was dropped. */
    public record Capped(TrainingExample example, Drop dropped, boolean truncated) {
    }

    /**
     * Truncates to {@code maxLength} tokens. A sample whose image tokens would be cut is dropped (the image
     * features must fill every image token, so a partial image cannot be fed), and so is one left without any
     * supervised token.
     */
    public Capped capped(int maxLength, int imageTokenId) {
        boolean truncated = false;
        TrainingExample ex = this;
        if (length() > maxLength) {
            long[] ids = input.inputIds();
            for (int i = maxLength; i < ids.length; i++) {
                if (ids[i] == imageTokenId) return new Capped(null, Drop.IMAGE_CUT, true);
            }
            MultimodalInput in = new MultimodalInput(Arrays.copyOf(ids, maxLength), input.pixelValues(), input.imageSizes(),
                    input.imageGridThw());
            ex = new TrainingExample(id, in, Arrays.copyOf(labels, maxLength));
            truncated = true;
        }
        if (ex.supervisedTokens() == 0) return new Capped(null, Drop.NO_SUPERVISED_TOKEN, truncated);
        return new Capped(ex, null, truncated);
    }
}
