package org.mha2mla.layers.text;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

import org.mha2mla.core.config.TextConfig;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The causal decoder of every supported VLM (LlamaModel + lm_head for the LLaVA family, Qwen2 for Qwen2.5-VL)
 * as a SameDiff graph over variables named with the checkpoint keys, e.g.
 * {@code language_model.model.layers.0.self_attn.q_proj.weight}.
 *
 * <p>The graph starts at {@code inputs_embeds} [B, L, d], so image features are merged outside and one decoder
 * serves all architectures and the trainer. RoPE enters as the {@code cos}/{@code sin} placeholders
 * [B|1, 1, L, d_h] and masking as the additive {@code attention_mask} [B, 1, L, L]. The pass names its logits,
 * hidden states, every layer's cache tensors and attention probabilities (below). It serves training and is the
 * reference the layer-at-a-time decoder and the eager decode step ({@code org.mha2mla.layers.decode}) are tested
 * against; generation does not use it.
 */
public final class TextDecoder {

    public static final String INPUTS_EMBEDS = "inputs_embeds";
    public static final String COS = "cos";
    public static final String SIN = "sin";
    public static final String ATTENTION_MASK = "attention_mask";
    /** FLOAT [B, L]: {@link DecoderInput#VISUAL} or {@link DecoderInput#TEXT} per token (MLA's per-modality factors). */
    public static final String MODALITY = "modality";
    /** Logits [B, L, vocab] of the full pass. */
    public static final String LOGITS = "logits";

    private final SameDiff sd;
    private final TextConfig config;
    private final String modelPrefix;
    private final SDVariable embedTokens;
    private final List<DecoderLayer> layers = new ArrayList<>();
    private final RmsNorm norm;
    private final SDVariable lmHead;

    /**
     * Builds the full pass over weights already in {@code sd}.
     *
     * @param modelPrefix prefix of the LlamaModel/Qwen2Model keys, e.g. {@code language_model.model.} or {@code model.}
     * @param lmHeadKey   key of the lm_head weight, e.g. {@code language_model.lm_head.weight}; ignored when the
     *                    config ties word embeddings
     * @param attention   the self-attention of layer i (GQA for the original model, MLA after conversion)
     */
    public TextDecoder(SameDiff sd, TextConfig config, String modelPrefix, String lmHeadKey,
                       IntFunction<DecoderAttention> attention) {
        this(sd, config, modelPrefix, lmHeadKey, attention, null);
    }

    /**
     * Like the constructor above, but the full pass starts from {@code inputsEmbeds} [B, L, d], a variable computed
     * in the same graph (pretraining: token embeddings and vision features merged inside the graph, so gradients
     * reach both), instead of the {@link #INPUTS_EMBEDS} placeholder; null means the placeholder.
     */
    public TextDecoder(SameDiff sd, TextConfig config, String modelPrefix, String lmHeadKey,
                       IntFunction<DecoderAttention> attention, SDVariable inputsEmbeds) {
        this.sd = sd;
        this.config = config;
        this.modelPrefix = modelPrefix;
        long d = config.hiddenSize();
        this.embedTokens = Params.get(sd, modelPrefix + "embed_tokens.weight", config.vocabSize(), d);
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            layers.add(new DecoderLayer(sd, config, layerKey(i), attention.apply(i)));
        }
        this.norm = new RmsNorm(sd, modelPrefix + "norm.weight", d, config.rmsNormEps());
        this.lmHead = config.tieWordEmbeddings() ? embedTokens : Params.get(sd, lmHeadKey, config.vocabSize(), d);
        buildFullPass(inputsEmbeds);
    }

    /** The original model: {@link GqaAttention} in every layer. */
    public static TextDecoder withGqa(SameDiff sd, TextConfig config, String modelPrefix, String lmHeadKey) {
        return new TextDecoder(sd, config, modelPrefix, lmHeadKey,
                i -> new GqaAttention(sd, config, modelPrefix + "layers." + i + ".self_attn"));
    }

    /** The original model over a computed {@code inputsEmbeds} variable (see the six-argument constructor). */
    public static TextDecoder withGqa(SameDiff sd, TextConfig config, String modelPrefix, String lmHeadKey, SDVariable inputsEmbeds) {
        return new TextDecoder(sd, config, modelPrefix, lmHeadKey,
                i -> new GqaAttention(sd, config, modelPrefix + "layers." + i + ".self_attn"), inputsEmbeds);
    }

    public String layerKey(int layer) {
        return modelPrefix + "layers." + layer;
    }

    /** Scope of layer {@code i} in the full pass, e.g. {@code decoder/layers.3}; its attention is {@code scope + "/self_attn"}. */
    public static String layerScope(int layer) {
        return "decoder/layers." + layer;
    }

    /** Node name of layer {@code i}'s normed attention input [B, L, d] in the full pass (the k/v projections' input). */
    public static String attentionInput(int layer) {
        return layerScope(layer) + "/input_layernorm";
    }

    /** Scope of layer {@code i}'s self-attention in the full pass (see {@link GqaAttention#queryBeforeRope}). */
    public static String attentionScope(int layer) {
        return layerScope(layer) + "/self_attn";
    }

    public static String hiddenState(int index) {
        return "hidden_states." + index;
    }

    /** Cache tensor {@code name} of {@code layer} after the full pass, e.g. {@code present.0.key}. */
    public static String present(int layer, String name) {
        return "present." + layer + "." + name;
    }

    /** Attention probabilities [B, n_h, L, T] of {@code layer}, e.g. {@code attention.0}. */
    public static String attentionProbs(int layer) {
        return "attention." + layer;
    }

    private void buildFullPass(SDVariable inputsEmbeds) {
        int dH = config.headDim();
        SDVariable x = inputsEmbeds != null ? inputsEmbeds : sd.placeHolder(INPUTS_EMBEDS, DataType.FLOAT, -1, -1, config.hiddenSize());
        SDVariable cos = sd.placeHolder(COS, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable sin = sd.placeHolder(SIN, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable mask = sd.placeHolder(ATTENTION_MASK, DataType.FLOAT, -1, -1, -1, -1);
        SDVariable modality = sd.placeHolder(MODALITY, DataType.FLOAT, -1, -1);
        pass(x, cos, sin, mask, modality);
    }

    /**
     * Adds the decoder pass. Names its outputs {@code hidden_states.i}, {@code logits}, {@code present.i.name},
     * {@code attention.i} (probabilities).
     */
    private void pass(SDVariable x, SDVariable cos, SDVariable sin, SDVariable mask, SDVariable modality) {
        SDVariable h = sd.identity(hiddenState(0), x);
        for (int i = 0; i < layers.size(); i++) {
            DecoderAttention.Result r = layers.get(i).forward(layerScope(i), h, cos, sin, mask, modality);
            sd.identity(attentionProbs(i), r.probs());
            List<DecoderAttention.CacheTensor> specs = layers.get(i).selfAttn().cacheTensors();
            for (int j = 0; j < specs.size(); j++) {
                sd.identity(present(i, specs.get(j).name()), r.present().get(j));
            }
            // The next layer reads the output itself (its rows, Rows), the name is an alias for readers of the pass.
            if (i < layers.size() - 1) sd.identity(hiddenState(i + 1), r.output());
            h = r.output();
        }
        // transformers' last hidden state is taken after the final norm.
        lmHead(LOGITS, norm.forward(hiddenState(layers.size()), h));
    }

    private SDVariable lmHead(String name, SDVariable normed) {
        return Linear.apply(sd, name, normed, lmHead, config.hiddenSize(), config.vocabSize());
    }

    /** Token embeddings [1, L, d] of {@code ids} (embed_tokens lookup, outside the graph). */
    public INDArray embed(long[] ids) {
        INDArray table = embedTokens.getArr();
        int[] rows = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
            rows[i] = (int) ids[i];
        }
        return table.getRows(rows).reshape(1, ids.length, config.hiddenSize());
    }

    /** Runs the full pass and returns the requested outputs (names above). */
    public Map<String, INDArray> run(DecoderInput in, String... outputs) {
        return sd.output(feed(in), outputs);
    }

    private static Map<String, INDArray> feed(DecoderInput in) {
        Map<String, INDArray> feed = new HashMap<>();
        feed.put(INPUTS_EMBEDS, in.inputsEmbeds());
        feed.put(COS, in.rope().cos());
        feed.put(SIN, in.rope().sin());
        feed.put(ATTENTION_MASK, in.attentionMask());
        feed.put(MODALITY, in.modality());
        return feed;
    }

    /** Logits [B, L, vocab]. */
    public INDArray logits(DecoderInput in) {
        return run(in, LOGITS).get(LOGITS);
    }

    /** Hidden states [layers + 1, B, L, d]: the input embeddings, every layer's output, the last after the final norm. */
    public INDArray hiddenStates(DecoderInput in) {
        String[] names = new String[layers.size() + 1];
        for (int i = 0; i < names.length; i++) names[i] = hiddenState(i);
        Map<String, INDArray> out = run(in, names);
        INDArray[] stack = new INDArray[names.length];
        for (int i = 0; i < names.length; i++) stack[i] = out.get(names[i]);
        return org.nd4j.linalg.factory.Nd4j.stack(0, stack);
    }

    public SameDiff sameDiff() {
        return sd;
    }

    /** The lm_head weight [vocab, d] (the embedding table when the config ties them): a loss on the final hidden states uses it. */
    public SDVariable lmHeadWeight() {
        return lmHead;
    }

    public TextConfig config() {
        return config;
    }

    public int numLayers() {
        return layers.size();
    }

    /** Cache tensors layer {@code i} keeps per token (GQA: key and value). */
    public List<DecoderAttention.CacheTensor> cacheTensors(int layer) {
        return layers.get(layer).selfAttn().cacheTensors();
    }

    public DecoderAttention attention(int layer) {
        return layers.get(layer).selfAttn();
    }
}
