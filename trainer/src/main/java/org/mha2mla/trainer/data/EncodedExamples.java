package org.mha2mla.trainer.data;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import org.mha2mla.layers.MultimodalInput;

/**
 * A LLaVA-instruct file of one-image samples encoded once (chat template, tokens, labels) and served in shuffled
 * epochs, for runs that visit a small dataset many times (the demo's pretraining): rendering the chat template is most
 * of the encoding cost, so it is paid once, not once per visit as {@link ExampleStream} does. Each example keeps its
 * decoded picture and is patchified when served, which keeps memory at one small picture per example instead of its
 * pixel values.
 *
 * <p>Order: one {@link Random} seeded with the seed draws a Fisher–Yates permutation of the examples for every epoch
 * in turn, so a run's data order is a function of the seed alone.
 */
public final class EncodedExamples implements Examples {

    /** One encoded sample: token ids, labels (not shifted), its image grid and the picture. */
    private record Encoded(String id, long[] ids, long[] labels, int[][] grid, BufferedImage picture) {
    }

    private final List<Encoded> examples;
    private final ChatExampleEncoder.Processor processor;
    private final Path file;
    private final Random rng;
    private int[] order;
    private long epoch;
    private int next;
    private long served;

    private EncodedExamples(List<Encoded> examples, ChatExampleEncoder.Processor processor, Path file, long seed) {
        this.examples = examples;
        this.processor = processor;
        this.file = file;
        this.rng = new Random(seed);
        this.order = permutation(examples.size(), rng);
    }

    /**
     * Reads and encodes every sample of {@code data} (images against its folder) through {@code processor}, in parallel
     * (the chat template dominates); a sample must hold one image and fit {@code maxLength} tokens.
     */
    public static EncodedExamples encode(Path data, ChatExampleEncoder.Processor processor, int maxLength, int imageTokenId, long seed) {
        InstructDataset ds = InstructDataset.load(data, null, seed);
        ChatExampleEncoder encoder = new ChatExampleEncoder(processor);
        List<InstructSample> samples = ds.samples();
        Encoded[] out = new Encoded[samples.size()];
        IntStream.range(0, samples.size()).parallel().forEach(i -> {
            InstructSample s = samples.get(i);
            List<BufferedImage> pictures = ChatExampleEncoder.readImages(s, ds.imageRoot());
            if (pictures.size() != 1) {
                throw new IllegalArgumentException(data + ": sample '" + s.id() + "' has " + pictures.size()
                        + " images; these examples hold one image each");
            }
            TrainingExample.Capped c = encoder.encode(s, pictures).capped(maxLength, imageTokenId);
            if (c.example() == null) {
                throw new IllegalArgumentException(data + ": sample '" + s.id() + "' does not fit in " + maxLength + " tokens (" + c.dropped() + ")");
            }
            MultimodalInput in = c.example().input();
            out[i] = new Encoded(s.id(), in.inputIds(), c.example().labels(), in.imageGridThw(), pictures.get(0));
        });
        return new EncodedExamples(List.of(out), processor, data, seed);
    }

    public int size() {
        return examples.size();
    }

    public Path file() {
        return file;
    }

    /** The next example of this epoch's order (a new order after the last), its picture patchified now. */
    @Override
    public TrainingExample next() {
        if (next == order.length) {
            order = permutation(examples.size(), rng);
            epoch++;
            next = 0;
        }
        Encoded e = examples.get(order[next++]);
        served++;
        ChatExampleEncoder.Images images = processor.images(List.of(e.picture()));
        return new TrainingExample(e.id(), new MultimodalInput(e.ids(), images.pixelValues(), null, e.grid()), e.labels());
    }

    @Override
    public ExampleStream.State state() {
        return new ExampleStream.State(new DataPosition(epoch, next), served, 0, 0, 0);
    }

    private static int[] permutation(int n, Random rng) {
        int[] p = IntStream.range(0, n).toArray();
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
