package org.mha2mla.trainer.pretrain;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A Qwen2.5-VL model made from scratch: its {@code config.json} as transformers' {@code Qwen2_5_VLConfig} writes it
 * (the hub's flat layout, the fields of the tiny test fixture), a word-level {@code tokenizer.json}, Qwen's chat
 * template, tokenizer and processor configs, and random weights initialised as transformers'
 * {@code Qwen2_5_VLPreTrainedModel._init_weights}: every Linear, Conv3d and Embedding weight ~ N(0,
 * initializer_range), biases 0, RMSNorm weights 1.
 *
 * <p>Fixed to Qwen's processor geometry: patch 14, temporal patch 2, 2×2 merge. What the demo chooses is
 * {@link Spec}: widths and depths, and the window size (112 px, Qwen2.5-VL's, makes a 112×112 image one window).
 */
public final class ScratchModel {

    public static final int PATCH_SIZE = 14;
    public static final int TEMPORAL_PATCH_SIZE = 2;
    public static final int MERGE_SIZE = 2;
    /** OpenAI CLIP's normalisation, which Qwen2-VL's image processor uses. */
    public static final double[] IMAGE_MEAN = {0.48145466, 0.4578275, 0.40821073};
    public static final double[] IMAGE_STD = {0.26862954, 0.26130258, 0.27577711};
    /** Qwen2.5-VL's min_pixels / max_pixels (size.shortest_edge / longest_edge in transformers 5). */
    public static final int MIN_PIXELS = 56 * 56;
    public static final int MAX_PIXELS = 28 * 28 * 16384;

    /**
     * What sizes the model has.
     *
     * @param hidden       decoder hidden_size (also the merger's out_hidden_size)
     * @param heads        num_attention_heads; head_dim = hidden / heads
     * @param kvHeads      num_key_value_heads (GQA when fewer than heads)
     * @param mropeSection t/h/w frequency pairs, summing to head_dim / 2
     * @param ropeTheta    the decoder's RoPE base. Qwen2.5-VL's 10⁶ leaves the height/width pairs (the slowest frequencies
     *                     in M-RoPE's sectioning) almost still across a few image rows: a small base lets a tiny
     *                     model tell cells apart.
     * @param initializerRange the std of every initial weight (config.initializer_range; HF's 0.02 suits widths in
     *                     the thousands, a 128-wide model starts faster near 1/√width)
     */
    public record Spec(int hidden, int intermediate, int layers, int heads, int kvHeads, int[] mropeSection, double ropeTheta,
                       int visionHidden, int visionIntermediate, int visionDepth, int visionHeads,
                       List<Integer> fullattBlockIndexes, int windowSize, double initializerRange) {

        public Spec {
            if (hidden % heads != 0 || heads % kvHeads != 0) {
                throw new IllegalArgumentException("hidden " + hidden + ", heads " + heads + ", kv heads " + kvHeads
                        + ": need hidden % heads == 0 and heads % kv heads == 0");
            }
            int sum = 0;
            for (int s : mropeSection) sum += s;
            if (mropeSection.length != 3 || sum != hidden / heads / 2) {
                throw new IllegalArgumentException("mrope_section must be 3 numbers summing to head_dim / 2 = " + hidden / heads / 2);
            }
            if (visionHidden % visionHeads != 0) {
                throw new IllegalArgumentException("vision hidden " + visionHidden + " is not a multiple of vision heads " + visionHeads);
            }
            fullattBlockIndexes = List.copyOf(fullattBlockIndexes);
        }

        public int headDim() {
            return hidden / heads;
        }

        /**
         * A builder whose defaults are the embedded demo's model. Decoder: 2 layers, d 256, GQA 8 query / 4 KV heads of
         * d_h 32, M-RoPE sections 4/6/6 pairs (Qwen's 16/24/24 scaled), RoPE base 1000; ViT: 1 block of width 64 (2 heads
         * of 32), 112 px windows (a whole image), the 2×2 merger; initial std 0.08 ≈ 1/√256.
         */
        public static Builder builder() {
            return new Builder();
        }

        /** A builder holding this spec's values. */
        public Builder toBuilder() {
            Builder b = new Builder();
            b.hidden = hidden;
            b.intermediate = intermediate;
            b.layers = layers;
            b.heads = heads;
            b.kvHeads = kvHeads;
            b.mropeSection = mropeSection;
            b.ropeTheta = ropeTheta;
            b.visionHidden = visionHidden;
            b.visionIntermediate = visionIntermediate;
            b.visionDepth = visionDepth;
            b.visionHeads = visionHeads;
            b.fullattBlockIndexes = fullattBlockIndexes;
            b.windowSize = windowSize;
            b.initializerRange = initializerRange;
            return b;
        }

        /** Named sizes with the demo model's defaults. */
        public static final class Builder {
            private int hidden = 256;
            private int intermediate = 768;
            private int layers = 2;
            private int heads = 8;
            private int kvHeads = 4;
            private int[] mropeSection = new int[] {4, 6, 6};
            private double ropeTheta = 1000.0;
            private int visionHidden = 64;
            private int visionIntermediate = 128;
            private int visionDepth = 1;
            private int visionHeads = 2;
            private List<Integer> fullattBlockIndexes = List.of(0);
            private int windowSize = 112;
            private double initializerRange = 0.08;

            private Builder() {
            }

            public Builder hidden(int hidden) {
                this.hidden = hidden;
                return this;
            }

            public Builder intermediate(int intermediate) {
                this.intermediate = intermediate;
                return this;
            }

            public Builder layers(int layers) {
                this.layers = layers;
                return this;
            }

            public Builder heads(int heads) {
                this.heads = heads;
                return this;
            }

            public Builder kvHeads(int kvHeads) {
                this.kvHeads = kvHeads;
                return this;
            }

            public Builder mropeSection(int... mropeSection) {
                this.mropeSection = mropeSection.clone();
                return this;
            }

            public Builder ropeTheta(double ropeTheta) {
                this.ropeTheta = ropeTheta;
                return this;
            }

            public Builder visionHidden(int visionHidden) {
                this.visionHidden = visionHidden;
                return this;
            }

            public Builder visionIntermediate(int visionIntermediate) {
                this.visionIntermediate = visionIntermediate;
                return this;
            }

            public Builder visionDepth(int visionDepth) {
                this.visionDepth = visionDepth;
                return this;
            }

            public Builder visionHeads(int visionHeads) {
                this.visionHeads = visionHeads;
                return this;
            }

            public Builder fullattBlockIndexes(List<Integer> fullattBlockIndexes) {
                this.fullattBlockIndexes = fullattBlockIndexes;
                return this;
            }

            public Builder windowSize(int windowSize) {
                this.windowSize = windowSize;
                return this;
            }

            public Builder initializerRange(double initializerRange) {
                this.initializerRange = initializerRange;
                return this;
            }

            public Spec build() {
                return new Spec(hidden, intermediate, layers, heads, kvHeads, mropeSection, ropeTheta, visionHidden, visionIntermediate, visionDepth, visionHeads, fullattBlockIndexes, windowSize, initializerRange);
            }
        }
    }

    private ScratchModel() {
    }

    /** config.json for {@code spec} over {@code tokenizer}'s vocabulary. */
    public static ObjectNode config(Spec spec, WordLevelTokenizer tokenizer) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode c = om.createObjectNode();
        c.putArray("architectures").add("Qwen2_5_VLForConditionalGeneration");
        c.put("model_type", "qwen2_5_vl");
        c.put("attention_dropout", 0.0);
        c.put("bos_token_id", WordLevelTokenizer.ENDOFTEXT_ID);
        c.put("eos_token_id", WordLevelTokenizer.IM_END_ID);
        c.put("pad_token_id", WordLevelTokenizer.ENDOFTEXT_ID);
        c.put("vision_start_token_id", WordLevelTokenizer.VISION_START_ID);
        c.put("vision_end_token_id", WordLevelTokenizer.VISION_END_ID);
        c.put("vision_token_id", WordLevelTokenizer.VISION_PAD_ID);
        c.put("image_token_id", WordLevelTokenizer.IMAGE_PAD_ID);
        c.put("video_token_id", WordLevelTokenizer.VIDEO_PAD_ID);
        c.put("hidden_act", "silu");
        c.put("hidden_size", spec.hidden());
        c.put("initializer_range", spec.initializerRange());
        c.put("intermediate_size", spec.intermediate());
        c.put("max_position_embeddings", 4096);
        c.put("max_window_layers", spec.layers());
        c.put("num_attention_heads", spec.heads());
        c.put("num_hidden_layers", spec.layers());
        c.put("num_key_value_heads", spec.kvHeads());
        c.put("rms_norm_eps", 1e-6);
        c.put("rope_theta", spec.ropeTheta());
        c.put("sliding_window", 4096);
        c.put("tie_word_embeddings", false);
        c.put("torch_dtype", "float32");
        c.put("use_cache", true);
        c.put("use_sliding_window", false);
        c.put("vocab_size", tokenizer.size());
        ObjectNode v = c.putObject("vision_config");
        v.put("depth", spec.visionDepth());
        v.put("hidden_act", "silu");
        v.put("hidden_size", spec.visionHidden());
        v.put("intermediate_size", spec.visionIntermediate());
        v.put("num_heads", spec.visionHeads());
        v.put("in_chans", 3);
        v.put("out_hidden_size", spec.hidden());
        v.put("patch_size", PATCH_SIZE);
        v.put("spatial_merge_size", MERGE_SIZE);
        v.put("spatial_patch_size", PATCH_SIZE);
        v.put("window_size", spec.windowSize());
        ArrayNode full = v.putArray("fullatt_block_indexes");
        spec.fullattBlockIndexes().forEach(full::add);
        v.put("tokens_per_second", 2);
        v.put("temporal_patch_size", TEMPORAL_PATCH_SIZE);
        v.put("initializer_range", spec.initializerRange());
        ObjectNode rope = c.putObject("rope_scaling");
        rope.put("type", "mrope");
        ArrayNode section = rope.putArray("mrope_section");
        for (int s : spec.mropeSection()) section.add(s);
        return c;
    }

    /** Random weights under the hub keys ({@code model.layers.N…}, {@code visual.…}, {@code lm_head.weight}). */
    public static Map<String, INDArray> initialWeights(Spec spec, int vocab, long seed) {
        Random rng = new Random(seed);
        double std = spec.initializerRange();
        Map<String, INDArray> w = new LinkedHashMap<>();
        int d = spec.hidden();
        int dh = spec.headDim();
        int vd = spec.visionHidden();
        int unitWidth = vd * MERGE_SIZE * MERGE_SIZE;
        w.put("visual.patch_embed.proj.weight", normal(rng, std, vd, 3, TEMPORAL_PATCH_SIZE, PATCH_SIZE, PATCH_SIZE));
        for (int i = 0; i < spec.visionDepth(); i++) {
            String p = "visual.blocks." + i + ".";
            w.put(p + "norm1.weight", ones(vd));
            w.put(p + "norm2.weight", ones(vd));
            linear(w, rng, std, p + "attn.qkv", vd, 3 * vd, true);
            linear(w, rng, std, p + "attn.proj", vd, vd, true);
            linear(w, rng, std, p + "mlp.gate_proj", vd, spec.visionIntermediate(), true);
            linear(w, rng, std, p + "mlp.up_proj", vd, spec.visionIntermediate(), true);
            linear(w, rng, std, p + "mlp.down_proj", spec.visionIntermediate(), vd, true);
        }
        w.put("visual.merger.ln_q.weight", ones(vd));
        linear(w, rng, std, "visual.merger.mlp.0", unitWidth, unitWidth, true);
        linear(w, rng, std, "visual.merger.mlp.2", unitWidth, d, true);
        w.put("model.embed_tokens.weight", normal(rng, std, vocab, d));
        for (int l = 0; l < spec.layers(); l++) {
            String p = "model.layers." + l + ".";
            w.put(p + "input_layernorm.weight", ones(d));
            w.put(p + "post_attention_layernorm.weight", ones(d));
            linear(w, rng, std, p + "self_attn.q_proj", d, spec.heads() * dh, true);
            linear(w, rng, std, p + "self_attn.k_proj", d, spec.kvHeads() * dh, true);
            linear(w, rng, std, p + "self_attn.v_proj", d, spec.kvHeads() * dh, true);
            linear(w, rng, std, p + "self_attn.o_proj", spec.heads() * dh, d, false);
            linear(w, rng, std, p + "mlp.gate_proj", d, spec.intermediate(), false);
            linear(w, rng, std, p + "mlp.up_proj", d, spec.intermediate(), false);
            linear(w, rng, std, p + "mlp.down_proj", spec.intermediate(), d, false);
        }
        w.put("model.norm.weight", ones(d));
        w.put("lm_head.weight", normal(rng, std, vocab, d));
        return w;
    }

    /**
     * Writes a complete model folder: config.json, generation_config.json, model.safetensors ({@code weights},
     * float32), tokenizer.json, tokenizer_config.json, chat_template.jinja, preprocessor_config.json,
     * processor_config.json.
     */
    public static void write(Path dir, Spec spec, WordLevelTokenizer tokenizer, Map<String, INDArray> weights) {
        ObjectMapper om = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        try {
            Files.createDirectories(dir);
            om.writeValue(dir.resolve("config.json").toFile(), config(spec, tokenizer));
            ObjectNode gen = om.createObjectNode();
            gen.put("bos_token_id", WordLevelTokenizer.ENDOFTEXT_ID);
            gen.putArray("eos_token_id").add(WordLevelTokenizer.IM_END_ID).add(WordLevelTokenizer.ENDOFTEXT_ID);
            gen.put("pad_token_id", WordLevelTokenizer.ENDOFTEXT_ID);
            gen.put("do_sample", false);
            om.writeValue(dir.resolve("generation_config.json").toFile(), gen);
            om.writeValue(dir.resolve("tokenizer.json").toFile(), tokenizer.json());
            ObjectNode tc = om.createObjectNode();
            tc.put("backend", "tokenizers");
            tc.put("bos_token", (String) null);
            tc.put("eos_token", WordLevelTokenizer.IM_END);
            tc.put("pad_token", WordLevelTokenizer.ENDOFTEXT);
            tc.put("unk_token", WordLevelTokenizer.UNK);
            tc.put("model_max_length", 32768);
            tc.put("processor_class", "Qwen2_5_VLProcessor");
            tc.put("tokenizer_class", "TokenizersBackend");
            om.writeValue(dir.resolve("tokenizer_config.json").toFile(), tc);
            try (InputStream in = ScratchModel.class.getResourceAsStream("chat_template.jinja")) {
                if (in == null) throw new IllegalStateException("resource chat_template.jinja is missing from the trainer jar");
                Files.write(dir.resolve("chat_template.jinja"), in.readAllBytes());
            }
            ObjectNode image = imageProcessor(om);
            om.writeValue(dir.resolve("preprocessor_config.json").toFile(), image);
            ObjectNode processor = om.createObjectNode();
            processor.set("image_processor", image.deepCopy());
            processor.put("processor_class", "Qwen2_5_VLProcessor");
            om.writeValue(dir.resolve("processor_config.json").toFile(), processor);
            SafeTensorsWriter.write(dir.resolve(SafeTensorsWriter.SINGLE_FILE), weights, Map.of("format", "pt"), DType.F32);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot write the model folder (" + e.getMessage() + ")", e);
        }
    }

    /** Qwen2VLImageProcessor's preprocessor_config.json. */
    static ObjectNode imageProcessor(ObjectMapper om) {
        ObjectNode p = om.createObjectNode();
        p.put("do_convert_rgb", true).put("do_normalize", true).put("do_rescale", true).put("do_resize", true);
        ArrayNode mean = p.putArray("image_mean");
        for (double m : IMAGE_MEAN) mean.add(m);
        p.put("image_processor_type", "Qwen2VLImageProcessor");
        ArrayNode std = p.putArray("image_std");
        for (double s : IMAGE_STD) std.add(s);
        p.put("merge_size", MERGE_SIZE).put("patch_size", PATCH_SIZE).put("resample", 3).put("rescale_factor", 1.0 / 255);
        p.putObject("size").put("longest_edge", MAX_PIXELS).put("shortest_edge", MIN_PIXELS);
        p.put("temporal_patch_size", TEMPORAL_PATCH_SIZE);
        return p;
    }

    private static void linear(Map<String, INDArray> w, Random rng, double std, String key, int in, int out, boolean bias) {
        w.put(key + ".weight", normal(rng, std, out, in));
        if (bias) w.put(key + ".bias", Nd4j.zeros(DataType.FLOAT, out));
    }

    /** N(0, initializer_range²) from java.util.Random, whose sequence the JDK specifies: the same weights on every machine. */
    private static INDArray normal(Random rng, double std, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) (rng.nextGaussian() * std);
        return Nd4j.create(v, shape, 'c');
    }

    private static INDArray ones(long n) {
        return Nd4j.ones(DataType.FLOAT, n);
    }
}
