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
 * [B|1, 1, L, d_h] and masking as the additive {@code attention_mask} [B, 1, L, T]. Two passes share the
 * weights: the full pass (names below: logits, hidden states, and the K/V of every layer for a prefill) and a
 * decode-step pass over cached tensors, built on first use ({@link #step}).
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
    /** Logits [B, 1, vocab] of the last position only (prefill: skips the lm_head on the prompt). */
    public static final String LAST_LOGITS = "logits_last";
    /** Prefix of the decode-step pass's placeholders and outputs, e.g. {@code step.inputs_embeds}. */
    public static final String STEP = "step.";

    private final SameDiff sd;
    private final TextConfig config;
    private final String modelPrefix;
    private final SDVariable embedTokens;
    private final List<DecoderLayer> layers = new ArrayList<>();
    private final RmsNorm norm;
    private final SDVariable lmHead;
    private boolean stepBuilt;

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

    /** Decode-step placeholder for the cache of {@code layer} so far, e.g. {@code past.0.key}. */
    public static String past(int layer, String name) {
        return "past." + layer + "." + name;
    }

    private void buildFullPass(SDVariable inputsEmbeds) {
        int dH = config.headDim();
        SDVariable x = inputsEmbeds != null ? inputsEmbeds : sd.placeHolder(INPUTS_EMBEDS, DataType.FLOAT, -1, -1, config.hiddenSize());
        SDVariable cos = sd.placeHolder(COS, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable sin = sd.placeHolder(SIN, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable mask = sd.placeHolder(ATTENTION_MASK, DataType.FLOAT, -1, -1, -1, -1);
        SDVariable modality = sd.placeHolder(MODALITY, DataType.FLOAT, -1, -1);
        SDVariable normed = pass("decoder", "", x, cos, sin, mask, modality, null);
        SDVariable last = sd.stridedSlice(normed, new long[]{0, -1, 0}, new long[]{0, 0, 0}, new long[]{1, 1, 1},
                0b101, 0b111, 0, 0, 0);
        lmHead(LAST_LOGITS, last);
    }

    /**
     * Adds one decoder pass. Names its outputs {@code outPrefix + hidden_states.i}, {@code outPrefix + logits},
     * {@code outPrefix + present.i.name}, {@code outPrefix + attention.i} (probabilities); returns the final-norm output.
     */
    private SDVariable pass(String scope, String outPrefix, SDVariable x, SDVariable cos, SDVariable sin, SDVariable mask,
                            SDVariable modality, List<List<SDVariable>> past) {
        SDVariable h = sd.identity(outPrefix + hiddenState(0), x);
        for (int i = 0; i < layers.size(); i++) {
            DecoderAttention.Result r = layers.get(i).forward(scope + "/layers." + i, h, cos, sin, mask, modality,
                    past == null ? null : past.get(i));
            sd.identity(outPrefix + attentionProbs(i), r.probs());
            List<DecoderAttention.CacheTensor> specs = layers.get(i).selfAttn().cacheTensors();
            for (int j = 0; j < specs.size(); j++) {
                sd.identity(outPrefix + present(i, specs.get(j).name()), r.present().get(j));
            }
            h = i == layers.size() - 1 ? r.output() : sd.identity(outPrefix + hiddenState(i + 1), r.output());
        }
        // transformers' last hidden state is taken after the final norm.
        SDVariable normed = norm.forward(outPrefix + hiddenState(layers.size()), h);
        lmHead(outPrefix + LOGITS, normed);
        return normed;
    }

    private SDVariable lmHead(String name, SDVariable normed) {
        return Linear.apply(sd, name, normed, lmHead, config.hiddenSize(), config.vocabSize());
    }

    /** Adds the decode-step pass on first use: step placeholders plus {@code past.i.name} for every cache tensor. */
    private synchronized void buildStepPass() {
        if (stepBuilt) return;
        int dH = config.headDim();
        SDVariable x = sd.placeHolder(STEP + INPUTS_EMBEDS, DataType.FLOAT, -1, -1, config.hiddenSize());
        SDVariable cos = sd.placeHolder(STEP + COS, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable sin = sd.placeHolder(STEP + SIN, DataType.FLOAT, -1, -1, -1, dH);
        SDVariable mask = sd.placeHolder(STEP + ATTENTION_MASK, DataType.FLOAT, -1, -1, -1, -1);
        SDVariable modality = sd.placeHolder(STEP + MODALITY, DataType.FLOAT, -1, -1);
        List<List<SDVariable>> past = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            List<SDVariable> p = new ArrayList<>();
            for (DecoderAttention.CacheTensor t : layers.get(i).selfAttn().cacheTensors()) {
                p.add(sd.placeHolder(past(i, t.name()), DataType.FLOAT, t.shape()));
            }
            past.add(p);
        }
        pass("decoder_step", STEP, x, cos, sin, mask, modality, past);
        stepBuilt = true;
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
        return sd.output(feed("", in), outputs);
    }

    /**
     * Runs the decode-step pass over {@code past} (per layer, the cache tensors in the attention's order) and
     * returns the requested outputs, named with the {@link #STEP} prefix.
     */
    public Map<String, INDArray> runStep(DecoderInput in, List<List<INDArray>> past, String... outputs) {
        buildStepPass();
        Map<String, INDArray> feed = feed(STEP, in);
        for (int i = 0; i < layers.size(); i++) {
            List<DecoderAttention.CacheTensor> specs = layers.get(i).selfAttn().cacheTensors();
            for (int j = 0; j < specs.size(); j++) {
                feed.put(past(i, specs.get(j).name()), past.get(i).get(j));
            }
        }
        return sd.output(feed, outputs);
    }

    private static Map<String, INDArray> feed(String prefix, DecoderInput in) {
        Map<String, INDArray> feed = new HashMap<>();
        feed.put(prefix + INPUTS_EMBEDS, in.inputsEmbeds());
        feed.put(prefix + COS, in.rope().cos());
        feed.put(prefix + SIN, in.rope().sin());
        feed.put(prefix + ATTENTION_MASK, in.attentionMask());
        feed.put(prefix + MODALITY, in.modality());
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
