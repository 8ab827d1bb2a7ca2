package org.mha2mla.trainer.data;

import java.nio.file.Path;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import org.mha2mla.layers.MultimodalInput;

/**
 * Calibration samples from a LLaVA-instruct JSON file, drawn as the MHA2MLA-VLM authors draw them
 * ({@code run_svd_init.py}: a shuffled loader under a fixed seed, the first {@code total_num} = 512 samples): the
 * records shuffled by {@code java.util.Random(seed)} (default {@value #DEFAULT_SEED}, theirs; the permutation is
 * Java's, not torch's), then the first N. Each whole conversation (prompt and reply, as during training) goes
 * through the model's processor by {@link ChatExampleEncoder}: chat template, tokenizer with the image placeholder
 * expanded, image processor. Multimodal records give both the text and the visual statistics MD-SVD needs.
 *
 * <p>The returned list encodes a sample when it is read, so memory holds one processed sample at a time whatever
 * N is (512 processed LLaVA-NeXT or Qwen2.5-VL samples would hold gigabytes of pixel values); a pass that reads a
 * sample twice (MKL scores, then the chosen selection's KL) encodes it twice, identically.
 */
public final class InstructCalibration implements CalibrationSet {

    /** The authors' seed ({@code --seed 42} of {@code run_svd_init.py}). */
    public static final long DEFAULT_SEED = 42;
    /** The authors' calibration size ({@code --total_num 512}). */
    public static final int DEFAULT_SAMPLES = 512;

    private final Path json;
    private final Path imageRoot;
    private final ChatExampleEncoder encoder;
    private final long seed;

    /** The authors' seed; {@code imageRoot}: where the records' image paths resolve (null: the JSON file's folder). */
    public InstructCalibration(Path json, Path imageRoot, ChatExampleEncoder.Processor processor) {
        this(json, imageRoot, processor, DEFAULT_SEED);
    }

    /** Shuffled by {@code seed}; {@code imageRoot}: where the records' image paths resolve (null: the JSON file's folder). */
    public InstructCalibration(Path json, Path imageRoot, ChatExampleEncoder.Processor processor, long seed) {
        this.json = json;
        this.imageRoot = imageRoot;
        this.encoder = new ChatExampleEncoder(processor);
        this.seed = seed;
    }

    /** The record indices in calibration order: 0 … records−1 shuffled by {@code Random(seed)}. */
    public static int[] order(int records, long seed) {
        List<Integer> idx = new ArrayList<>(IntStream.range(0, records).boxed().toList());
        Collections.shuffle(idx, new Random(seed));
        return idx.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public List<MultimodalInput> load(int maxSamples) {
        if (maxSamples <= 0) throw new IllegalArgumentException("calibration needs at least one sample, asked for " + maxSamples);
        InstructDataset data = InstructDataset.load(json, imageRoot, 0);
        List<InstructSample> all = data.samples();
        int[] order = order(all.size(), seed);
        List<InstructSample> chosen = new ArrayList<>();
        for (int i = 0; i < Math.min(maxSamples, order.length); i++) chosen.add(all.get(order[i]));
        Path root = data.imageRoot();
        return new AbstractList<>() {
            @Override
            public MultimodalInput get(int i) {
                return encoder.encode(chosen.get(i), root).input();
            }

            @Override
            public int size() {
                return chosen.size();
            }
        };
    }
}
