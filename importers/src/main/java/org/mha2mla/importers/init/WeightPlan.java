package org.mha2mla.importers.init;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.mha2mla.core.config.ClipVisionConfig;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.Qwen25VlVisionConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.JsonFields;
import org.mha2mla.importers.family.FamilySpecs;

/**
 * Every tensor of a model class, in the order its state dict lists them, under the keys transformers 5's
 * save_pretrained writes (the keys of the test fixtures), at the shapes config.json gives, each with the distribution
 * {@code from_config} draws it from. transformers initialises a composite model by handing each sub-model to its own
 * {@code _init_weights} (PreTrainedModel.initialize_weights / smart_apply):
 * <pre>
 *   Llama / Qwen2 decoder, Qwen2.5-VL ViT, projectors, lm_head   Linear, Conv, Embedding weights ~ N(0, initializer_range),
 *                                                              biases 0, RMSNorm weights 1; the Embedding's padding_idx
 *                                                              row (pad_token_id of the text config) 0
 *   CLIP vision tower (CLIPPreTrainedModel, factor f =          class_embedding ~ N(0, d^-1/2 f); patch and position
 *     initializer_factor, default 1)                            embeddings ~ N(0, initializer_range f); q/k/v ~ N(0,
 *                                                              d^-1/2 (2L)^-1/2 f), out_proj ~ N(0, d^-1/2 f); fc1 ~ N(0,
 *                                                              (2d)^-1/2 f), fc2 ~ N(0, d^-1/2 (2L)^-1/2 f); LayerNorm 1 / 0
 *   LLaVA-NeXT image_newline                                   N(0, 1/√hidden_size) (LlavaNextPreTrainedModel)
 * </pre>
 * initializer_range defaults to 0.02 everywhere (each config class's default); the projector and lm_head use the
 * top-level config's value when it has one, else the text config's, as {@code PreTrainedModel._init_weights} does.
 *
 * <p>Key layout: LLaVA's CLIP tower is written {@code vision_tower.embeddings…} without the {@code vision_model} level
 * the hub's llava-hf checkpoints have ({@code vision_tower.vision_model.embeddings…}); that is what transformers 5
 * writes, and {@link org.mha2mla.importers.weights.KeyLayout} reads both. Tied word embeddings leave out lm_head,
 * as save_pretrained drops tied weights. The tiny LLaVA-NeXT fixture's image_newline has a sample std near 1, not
 * 1/√64: its generator evidently set it differently; this class keeps the modelling code's 1/√hidden_size.
 */
public final class WeightPlan {

    /** How a tensor starts. */
    public sealed interface Init permits Normal, Constant {
    }

    /**
     * N(0, std²) for every element, except row {@code zeroRow} of a 2-D tensor (an Embedding's padding_idx), which is
     * 0; -1 for none.
     */
    public record Normal(double std, long zeroRow) implements Init {
        public Normal(double std) {
            this(std, -1);
        }
    }

    /** Every element {@code value}: 1 for norm weights, 0 for biases. */
    public record Constant(float value) implements Init {
    }

    /** One tensor of the checkpoint. */
    public record Tensor(String name, long[] shape, Init init) {
        public Tensor {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long numel() {
            long n = 1;
            for (long s : shape) n = Math.multiplyExact(n, s);
            return n;
        }

        @Override
        public String toString() {
            return name + Arrays.toString(shape) + " " + init;
        }
    }

    private static final Constant ONES = new Constant(1f);
    private static final Constant ZEROS = new Constant(0f);
    private static final double DEFAULT_RANGE = 0.02;

    private final List<Tensor> tensors = new ArrayList<>();

    private WeightPlan() {
    }

    /**
     * The tensors of {@code config}'s model class; {@code raw} is the same config.json, for the init fields the parsed
     * records do not keep (initializer_range, initializer_factor).
     */
    public static List<Tensor> of(VlmConfig config, JsonFields raw) {
        return FamilySpecs.of(config).weightPlan(config, raw);
    }

    /** The tensors of LlavaForConditionalGeneration / LlavaNextForConditionalGeneration ({@code LlavaFamily}). */
    public static List<Tensor> llava(LlavaConfig config, JsonFields raw) {
        WeightPlan p = new WeightPlan();
        p.addLlava(config, raw);
        return List.copyOf(p.tensors);
    }

    /** The tensors of Qwen2_5_VLForConditionalGeneration ({@code Qwen25VlFamily}). */
    public static List<Tensor> qwen25Vl(Qwen25VlConfig config, JsonFields raw) {
        WeightPlan p = new WeightPlan();
        p.addQwen25Vl(config, raw);
        return List.copyOf(p.tensors);
    }

    /** Sum of the tensors' element counts. */
    public static long parameters(List<Tensor> tensors) {
        long n = 0;
        for (Tensor t : tensors) n += t.numel();
        return n;
    }

    // ---- LLaVA / LLaVA-NeXT: LlavaModel(vision_tower, multi_modal_projector, [image_newline], language_model), lm_head ----

    private void addLlava(LlavaConfig c, JsonFields raw) {
        TextConfig text = c.textConfig();
        JsonFields textRaw = raw.object("text_config");
        double textRange = range(textRaw);
        double topRange = raw.has("initializer_range") ? raw.number("initializer_range", null) : textRange;
        if (c.isNext()) {
            // An nn.Parameter of LlavaNextModel itself: the state dict lists a module's own parameters before its children's.
            add("image_newline", normal(1.0 / Math.sqrt(text.hiddenSize())), text.hiddenSize());
        }
        clipVisionTower("vision_tower.", c.visionConfig(), raw.object("vision_config"));
        int vd = c.visionConfig().hiddenSize();
        linear("multi_modal_projector.linear_1", vd, text.hiddenSize(), c.multimodalProjectorBias(), topRange);
        linear("multi_modal_projector.linear_2", text.hiddenSize(), text.hiddenSize(), c.multimodalProjectorBias(), topRange);
        // LlamaAttention: o_proj carries a bias with attention_bias; LlamaMLP: every projection with mlp_bias.
        boolean mlpBias = textRaw != null && textRaw.bool("mlp_bias", false);
        decoder("language_model.model.", text, textRange, text.attentionBias(), mlpBias);
        if (!text.tieWordEmbeddings()) add("language_model.lm_head.weight", normal(topRange), text.vocabSize(), text.hiddenSize());
    }

    /** CLIPVisionModel: embeddings, pre_layrnorm (sic), encoder.layers, post_layernorm, with CLIP's own init. */
    private void clipVisionTower(String prefix, ClipVisionConfig v, JsonFields vRaw) {
        double range = range(vRaw);
        double factor = vRaw != null && vRaw.has("initializer_factor") ? vRaw.number("initializer_factor", null) : 1.0;
        int d = v.hiddenSize();
        int layers = v.numHiddenLayers();
        double inProjStd = Math.pow(d, -0.5) * Math.pow(2.0 * layers, -0.5) * factor;
        add(prefix + "embeddings.class_embedding", normal(Math.pow(d, -0.5) * factor), d);
        add(prefix + "embeddings.patch_embedding.weight", normal(range * factor), d, v.numChannels(), v.patchSize(), v.patchSize());
        add(prefix + "embeddings.position_embedding.weight", normal(range * factor), v.numPositions(), d);
        layerNorm(prefix + "pre_layrnorm", d);
        for (int i = 0; i < layers; i++) {
            String p = prefix + "encoder.layers." + i + ".";
            // CLIPAttention registers k, v, q, out in that order.
            linear(p + "self_attn.k_proj", d, d, true, inProjStd);
            linear(p + "self_attn.v_proj", d, d, true, inProjStd);
            linear(p + "self_attn.q_proj", d, d, true, inProjStd);
            linear(p + "self_attn.out_proj", d, d, true, Math.pow(d, -0.5) * factor);
            layerNorm(p + "layer_norm1", d);
            linear(p + "mlp.fc1", d, v.intermediateSize(), true, Math.pow(2.0 * d, -0.5) * factor);
            linear(p + "mlp.fc2", v.intermediateSize(), d, true, inProjStd);
            layerNorm(p + "layer_norm2", d);
        }
        layerNorm(prefix + "post_layernorm", d);
    }

    // ---- Qwen2.5-VL: Qwen2_5_VLModel(visual, language_model), lm_head ----

    private void addQwen25Vl(Qwen25VlConfig c, JsonFields raw) {
        TextConfig text = c.textConfig();
        JsonFields textRaw = raw.has("text_config") ? raw.object("text_config") : raw;
        double textRange = range(textRaw);
        double topRange = raw.has("initializer_range") ? raw.number("initializer_range", null) : textRange;
        qwenVisionTower(c.visionConfig(), range(raw.object("vision_config")));
        decoder("model.", text, textRange, false, false); // Qwen2: o_proj and the MLP never have biases
        if (!text.tieWordEmbeddings()) add("lm_head.weight", normal(topRange), text.vocabSize(), text.hiddenSize());
    }

    /** Qwen2_5_VisionTransformerPretrainedModel: patch_embed (Conv3d, no bias), blocks, merger. */
    private void qwenVisionTower(Qwen25VlVisionConfig v, double range) {
        int d = v.hiddenSize();
        add("visual.patch_embed.proj.weight", normal(range), d, v.inChannels(), v.temporalPatchSize(), v.patchSize(), v.patchSize());
        for (int i = 0; i < v.depth(); i++) {
            String p = "visual.blocks." + i + ".";
            add(p + "norm1.weight", ONES, d);
            add(p + "norm2.weight", ONES, d);
            linear(p + "attn.qkv", d, 3 * d, true, range);
            linear(p + "attn.proj", d, d, true, range);
            linear(p + "mlp.gate_proj", d, v.intermediateSize(), true, range);
            linear(p + "mlp.up_proj", d, v.intermediateSize(), true, range);
            linear(p + "mlp.down_proj", v.intermediateSize(), d, true, range);
        }
        int merged = d * v.spatialMergeSize() * v.spatialMergeSize();
        add("visual.merger.ln_q.weight", ONES, d);
        linear("visual.merger.mlp.0", merged, merged, true, range);
        linear("visual.merger.mlp.2", merged, v.outHiddenSize(), true, range);
    }

    // ---- the Llama / Qwen2 decoder: embed_tokens, layers (self_attn, mlp, input/post_attention_layernorm), norm ----

    private void decoder(String prefix, TextConfig t, double range, boolean oProjBias, boolean mlpBias) {
        int d = t.hiddenSize();
        int q = t.numAttentionHeads() * t.headDim();
        int kv = t.numKeyValueHeads() * t.headDim();
        Integer pad = t.padTokenId();
        long zeroRow = pad != null && pad >= 0 && pad < t.vocabSize() ? pad : -1;
        add(prefix + "embed_tokens.weight", new Normal(range, zeroRow), t.vocabSize(), d);
        for (int l = 0; l < t.numHiddenLayers(); l++) {
            String p = prefix + "layers." + l + ".";
            linear(p + "self_attn.q_proj", d, q, t.attentionBias(), range);
            linear(p + "self_attn.k_proj", d, kv, t.attentionBias(), range);
            linear(p + "self_attn.v_proj", d, kv, t.attentionBias(), range);
            linear(p + "self_attn.o_proj", q, d, oProjBias, range);
            linear(p + "mlp.gate_proj", d, t.intermediateSize(), mlpBias, range);
            linear(p + "mlp.up_proj", d, t.intermediateSize(), mlpBias, range);
            linear(p + "mlp.down_proj", t.intermediateSize(), d, mlpBias, range);
            add(p + "input_layernorm.weight", ONES, d);
            add(p + "post_attention_layernorm.weight", ONES, d);
        }
        add(prefix + "norm.weight", ONES, d);
    }

    // ---- building blocks ----

    /** nn.Linear(in, out): weight [out, in] ~ N(0, std²), bias [out] = 0. */
    private void linear(String prefix, int in, int out, boolean bias, double std) {
        add(prefix + ".weight", normal(std), out, in);
        if (bias) add(prefix + ".bias", ZEROS, out);
    }

    private void layerNorm(String prefix, int d) {
        add(prefix + ".weight", ONES, d);
        add(prefix + ".bias", ZEROS, d);
    }

    private void add(String name, Init init, long... shape) {
        tensors.add(new Tensor(name, shape, init));
    }

    private static Normal normal(double std) {
        return new Normal(std);
    }

    private static double range(JsonFields f) {
        return f != null && f.has("initializer_range") ? f.number("initializer_range", null) : DEFAULT_RANGE;
    }
}
