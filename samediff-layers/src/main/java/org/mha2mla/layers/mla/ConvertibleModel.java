package org.mha2mla.layers.mla;

import java.util.function.BiFunction;
import java.util.function.Function;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.llava.LlavaModel;
import org.mha2mla.layers.llava.LlavaNextModel;
import org.mha2mla.layers.qwen25vl.Qwen25VlModel;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * What the converter needs from a loaded model: its weight graph, its decoder, its own way of turning a prompt
 * into decoder input (image features merged, RoPE or M-RoPE tables, each token's modality), and how to build
 * the same architecture over converted weights. The {@link VisionLanguageModel} interface exposes none of these.
 */
record ConvertibleModel(VisionLanguageModel model, SameDiff sd, TextDecoder decoder, Function<MultimodalInput, DecoderInput> inputs,
                        BiFunction<Mha2MlaConfig, SameDiff, VisionLanguageModel> rebuild) {

    static ConvertibleModel of(VisionLanguageModel m) {
        if (m instanceof LlavaModel l) {
            return new ConvertibleModel(m, l.sameDiff(), l.decoder(), l::decoderInput, (c, sd) -> new LlavaModel(l.config(), c, sd));
        }
        if (m instanceof LlavaNextModel l) {
            return new ConvertibleModel(m, l.sameDiff(), l.decoder(), l::decoderInput, (c, sd) -> new LlavaNextModel(l.config(), c, sd));
        }
        if (m instanceof Qwen25VlModel q) {
            return new ConvertibleModel(m, q.sameDiff(), q.decoder(), q::decoderInput, (c, sd) -> new Qwen25VlModel(q.config(), c, sd));
        }
        throw new IllegalArgumentException("cannot convert a " + m.getClass().getName() + " (model_type " + m.config().modelType()
                + "): only LlavaModel, LlavaNextModel and Qwen25VlModel expose their decoder");
    }

    /** Prefix of the decoder keys, e.g. {@code language_model.model.} or {@code model.}. */
    String decoderPrefix() {
        String layer0 = decoder.layerKey(0);
        return layer0.substring(0, layer0.length() - "layers.0".length());
    }

    /** Key prefix of layer i's attention weights. */
    String attentionKey(int layer) {
        return DecoderAttentions.key(decoderPrefix(), layer);
    }
}
