package org.mha2mla.layers.mla;

import java.util.function.IntFunction;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.GqaAttention;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * The self-attention every decoder layer gets from a model folder's config: the original {@link GqaAttention}
 * (no {@code mha2mla} section), {@link PartialRopeAttention} (step rope) or {@link MlaAttention} (steps svd, all).
 */
public final class DecoderAttentions {

    private DecoderAttentions() {
    }

    /**
     * @param modelPrefix prefix of the decoder keys, e.g. {@code model.} (layer i's attention is
     *                    {@code modelPrefix + "layers." + i + ".self_attn"})
     * @param conversion  the config's {@code mha2mla} section, or null for the original model
     */
    public static IntFunction<DecoderAttention> of(SameDiff sd, TextConfig text, String modelPrefix, Mha2MlaConfig conversion) {
        if (conversion == null) return i -> new GqaAttention(sd, text, key(modelPrefix, i));
        conversion.requireMatches(text);
        RopeSelection selection = conversion.selection(text.headDim());
        if (!conversion.isMla()) return i -> new PartialRopeAttention(sd, text, key(modelPrefix, i), selection, i);
        return i -> new MlaAttention(sd, text, key(modelPrefix, i), selection, i, conversion.dKv(), conversion.decoupled());
    }

    /** Like {@link #of}, for any graph: the layer-at-a-time decoder builds each layer in a graph of its own. */
    public static DecoderAttention.Factory factory(TextConfig text, String modelPrefix, Mha2MlaConfig conversion) {
        if (conversion != null) conversion.requireMatches(text);
        return (sd, i) -> of(sd, text, modelPrefix, conversion).apply(i);
    }

    /** {@code modelPrefix + "layers." + layer + ".self_attn"}. */
    public static String key(String modelPrefix, int layer) {
        return modelPrefix + "layers." + layer + ".self_attn";
    }
}
