package org.mha2mla.layers.llava;

import java.nio.file.Path;
import java.util.function.Predicate;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generation;
import org.mha2mla.layers.generation.GreedyGenerator;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * LlavaForConditionalGeneration (LLaVA-1.5): CLIP features of layer −2 without CLS → projector → written over
 * the {@code <image>} tokens (already expanded to one per patch by the processor) → Llama decoder.
 */
public final class LlavaModel implements VisionLanguageModel {

    private final LlavaGraph graph;

    /** Builds the model over a graph whose variables are the checkpoint tensors under canonical (hub) keys. */
    public LlavaModel(LlavaConfig config, SameDiff weights) {
        this(config, null, weights);
    }

    /** A converted model: the decoder's attention follows {@code conversion} (partial RoPE or MLA; null: original). */
    public LlavaModel(LlavaConfig config, Mha2MlaConfig conversion, SameDiff weights) {
        if (config.isNext()) {
            throw new IllegalArgumentException("model_type llava_next: use LlavaNextModel");
        }
        this.graph = new LlavaGraph(config, conversion, weights);
    }

    /**
     * Loads a Hugging Face folder (config.json + model.safetensors or a sharded index): an original model, or one
     * converted by this project (its config's {@code mha2mla} section says how).
     */
    public static LlavaModel load(Path dir) {
        VlmConfig config = HfConfigParser.read(dir);
        if (!(config instanceof LlavaConfig llava) || llava.isNext()) {
            throw new IllegalArgumentException(dir + "/config.json: model_type " + config.modelType() + " is not llava");
        }
        return new LlavaModel(llava, HfConfigParser.readConversion(dir), LlavaGraph.loadWeights(dir, llava));
    }

    @Override
    public LlavaConfig config() {
        return graph.config;
    }

    @Override
    public Mha2MlaConfig conversion() {
        return graph.conversion;
    }

    /** Image features [n_images · patches, d] that replace the image tokens, in order. */
    public INDArray imageFeatures(INDArray pixelValues) {
        INDArray f = graph.projectedFeatures(pixelValues);
        return f.reshape(f.size(0) * f.size(1), f.size(2));
    }

    /** The decoder input for one prompt: embeddings with image features merged, positions 0..L−1, causal mask. */
    public DecoderInput decoderInput(MultimodalInput input) {
        LlavaGraph.requireNoGridInputs(input, "llava");
        INDArray features = input.hasImage() ? imageFeatures(input.pixelValues()) : null;
        return graph.decoderInput(input.inputIds(), graph.inputsEmbeds(input.inputIds(), features));
    }

    @Override
    public INDArray logits(MultimodalInput input) {
        return graph.logits(decoderInput(input));
    }

    @Override
    public INDArray hiddenStates(MultimodalInput input) {
        return graph.hiddenStates(decoderInput(input));
    }

    @Override
    public long[] generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos) {
        return graph.generate(decoderInput(input), maxNewTokens, stopAtEos);
    }

    @Override
    public Generation generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos, CachePolicy policy,
                               Predicate<long[]> stopWhen) {
        return graph.generate(decoderInput(input), maxNewTokens, stopAtEos, policy, stopWhen);
    }

    @Override
    public long kvCacheBytesPerToken() {
        return graph.kvCacheBytesPerToken();
    }

    public TextDecoder decoder() {
        return graph.decoder;
    }

    public GreedyGenerator generator() {
        return graph.generator;
    }

    /** The graph holding every weight as a variable named with its hub key. */
    public SameDiff sameDiff() {
        return graph.sd;
    }
}
