package org.mha2mla.trainer;

import java.nio.file.Path;
import java.util.function.Function;

import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * What training needs from a loaded VLM: its graph (every checkpoint tensor a variable under its hub key), the
 * text decoder whose {@code logits} the loss reads, and the model's own way of turning a processed prompt into
 * decoder input (token embeddings with image features merged, RoPE tables, causal mask). The embeddings and the
 * vision tower are frozen in both stages, so they run outside the differentiated graph, as inference.
 */
public final class TrainableModel implements AutoCloseable {

    private final VisionLanguageModel model;
    private final SameDiff sd;
    private final TextDecoder decoder;
    private final Function<MultimodalInput, DecoderInput> inputs;

    private TrainableModel(VisionLanguageModel model, SameDiff sd, TextDecoder decoder, Function<MultimodalInput, DecoderInput> inputs) {
        this.model = model;
        this.sd = sd;
        this.decoder = decoder;
        this.inputs = inputs;
    }

    /** Opens a Hugging Face folder (original, partial-RoPE or MLA model) the way the rest of the project does. */
    public static TrainableModel load(Path dir) {
        return of(VlmLoader.load(dir));
    }

    /** A model's whole-graph decoder (its float32 weights as SameDiff variables) and its own decoder input. */
    public static TrainableModel of(VisionLanguageModel m) {
        TextDecoder graph = m.graph();
        return new TrainableModel(m, graph.sameDiff(), graph, m::decoderInput);
    }

    public VisionLanguageModel model() {
        return model;
    }

    public VlmConfig config() {
        return model.config();
    }

    public SameDiff sameDiff() {
        return sd;
    }

    public TextDecoder decoder() {
        return decoder;
    }

    public int imageTokenId() {
        return model.config().imageTokenId();
    }

    public long vocabSize() {
        return model.config().textConfig().vocabSize();
    }

    /** inputs_embeds [1, L, d], RoPE tables and mask of one prompt (vision tower run as inference). */
    public DecoderInput decoderInput(MultimodalInput input) {
        return inputs.apply(input);
    }

    @Override
    public void close() {
        model.close();
    }
}
