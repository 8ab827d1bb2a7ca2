package org.mha2mla.trainer.data;

/**
 * The training examples in data order: each sample of the {@link InstructDataset} encoded, capped to the sequence
 * length, and skipped (counted) when capping drops it. Its state — the dataset position and the counters — is
 * what a checkpoint saves.
 */
public final class ExampleStream implements Examples {

    /** Everything needed to continue the stream exactly. */
    public record State(DataPosition position, long examples, long truncated, long droppedImageCut, long droppedNoSupervision) {
    }

    private final InstructDataset data;
    private final ExampleEncoder encoder;
    private final int maxLength;
    private final int imageTokenId;
    private long examples;
    private long truncated;
    private long droppedImageCut;
    private long droppedNoSupervision;

    public ExampleStream(InstructDataset data, ExampleEncoder encoder, int maxLength, int imageTokenId) {
        if (maxLength < 2) throw new IllegalArgumentException("sequence length cap must be >= 2, got " + maxLength);
        this.data = data;
        this.encoder = encoder;
        this.maxLength = maxLength;
        this.imageTokenId = imageTokenId;
    }

    /** The next example that fits; throws when a whole epoch's worth of samples in a row was dropped. */
    @Override
    public TrainingExample next() {
        for (int tries = 0; tries <= data.size(); tries++) {
            InstructSample s = data.next();
            TrainingExample.Capped c = encoder.encode(s, data.imageRoot()).capped(maxLength, imageTokenId);
            if (c.dropped() == TrainingExample.Drop.IMAGE_CUT) {
                droppedImageCut++;
            } else if (c.dropped() == TrainingExample.Drop.NO_SUPERVISED_TOKEN) {
                droppedNoSupervision++;
            } else {
                examples++;
                if (c.truncated()) truncated++;
                return c.example();
            }
        }
        throw new IllegalStateException(data.file() + ": every sample is dropped at sequence length " + maxLength
                + " (image tokens cut: " + droppedImageCut + ", no assistant token left: " + droppedNoSupervision + ")");
    }

    @Override
    public State state() {
        return new State(data.position(), examples, truncated, droppedImageCut, droppedNoSupervision);
    }

    public void restore(State s) {
        data.seek(s.position());
        examples = s.examples();
        truncated = s.truncated();
        droppedImageCut = s.droppedImageCut();
        droppedNoSupervision = s.droppedNoSupervision();
    }

    /** e.g. "1200 examples (14 of them truncated), dropped: 3 image cut, 0 without assistant tokens". */
    public String summary() {
        return examples + " examples (" + truncated + " of them truncated), dropped: " + droppedImageCut + " image cut, "
                + droppedNoSupervision + " without assistant tokens";
    }
}
