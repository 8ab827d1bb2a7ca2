package org.mha2mla.trainer.data;

/** Where reading resumes: the {@code index}-th sample of epoch {@code epoch}'s shuffled order. */
public record DataPosition(long epoch, long index) {

    public static final DataPosition START = new DataPosition(0, 0);

    public DataPosition {
        if (epoch < 0 || index < 0) throw new IllegalArgumentException("data position must be non-negative: " + epoch + ", " + index);
    }
}
