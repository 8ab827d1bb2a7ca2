package org.mha2mla.trainer.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.mha2mla.layers.MultimodalInput;

/**
 * Calibration samples from a LLaVA-instruct JSON file: the first N records in file order, each whole conversation
 * (prompt and reply, as during training) through the model's processor by {@link ChatExampleEncoder}: chat template,
 * tokenizer with the image placeholder expanded, image processor. Multimodal records give both the text and the
 * visual statistics MD-SVD needs.
 */
public final class InstructCalibration implements CalibrationSet {

    private final Path json;
    private final Path imageRoot;
    private final ChatExampleEncoder encoder;

    /** @param imageRoot where the records' image paths resolve (null: the JSON file's folder) */
    public InstructCalibration(Path json, Path imageRoot, ChatExampleEncoder.Processor processor) {
        this.json = json;
        this.imageRoot = imageRoot;
        this.encoder = new ChatExampleEncoder(processor);
    }

    @Override
    public List<MultimodalInput> load(int maxSamples) {
        if (maxSamples <= 0) throw new IllegalArgumentException("calibration needs at least one sample, asked for " + maxSamples);
        return load(0, maxSamples);
    }

    /** Records {@code from} (inclusive) to {@code to} (exclusive, at most the file's count) in file order: a share of the samples. */
    public List<MultimodalInput> load(int from, int to) {
        InstructDataset data = InstructDataset.load(json, imageRoot, 0);
        List<InstructSample> records = data.samples();
        List<MultimodalInput> out = new ArrayList<>();
        for (int i = from; i < Math.min(to, records.size()); i++) out.add(encoder.encode(records.get(i), data.imageRoot()).input());
        return out;
    }

    /** Records in the file: {@link #load(int)} gives min(maxSamples, count()) samples. */
    public int count() {
        return InstructDataset.load(json, imageRoot, 0).samples().size();
    }
}
