package org.mha2mla.importers.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.mha2mla.core.config.ClipVisionConfig;
import org.mha2mla.importers.FileKind;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.Qwen25VlVisionConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.SvdMethod;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a Hugging Face {@code config.json} into the core config records, filling every absent field
 * with the default the matching transformers config class would use. Hub files rely on those defaults:
 * llava-1.5-7b-hf, for one, leaves out hidden_size, num_hidden_layers, rope_theta and CLIP's hidden_act.
 */
public final class HfConfigParser {
    private static final ObjectMapper JSON = new ObjectMapper();

    private HfConfigParser() {
    }

    /** Parses {@code dir/config.json}. */
    public static VlmConfig read(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) FileKind.requireRegular(file, ConfigException::new);
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": not found (a Hugging Face model folder needs config.json)");
        } catch (IOException e) {
            throw new ConfigException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ConfigException(file + ": top level must be a JSON object");
        return parse(new JsonFields(root, file.toString(), ""));
    }

    /** Parses config JSON text; {@code name} is used in error messages. */
    public static VlmConfig parse(String json, String name) {
        try {
            JsonNode root = JSON.readTree(json);
            if (root == null || !root.isObject()) throw new ConfigException(name + ": top level must be a JSON object");
            return parse(new JsonFields(root, name, ""));
        } catch (IOException e) {
            throw new ConfigException(name + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    // ---- the "mha2mla" section of converted models ----

    /** Name of the section a converted model's config.json carries. */
    public static final String MHA2MLA = "mha2mla";

    /**
     * The {@code "mha2mla"} section of {@code dir/config.json}, or null for an unconverted model; checked against the
     * decoder the same file describes (layers, KV heads, head_dim).
     */
    public static Mha2MlaConfig readConversion(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        try {
            String json = Files.readString(file);
            Mha2MlaConfig c = parseConversion(json, file.toString());
            if (c != null) {
                try {
                    c.requireMatches(parse(json, file.toString()).textConfig());
                } catch (IllegalArgumentException e) {
                    throw new ConfigException(file + ": " + e.getMessage(), e);
                }
            }
            return c;
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": not found (a Hugging Face model folder needs config.json)");
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * The {@code "mha2mla"} section of config JSON text, or null when absent:
     * <pre>
     *   "mha2mla": {"step": "all", "strategy": "mkl", "d_r": 32, "d_kv": 64, "svd": "md", "decoupled": true,
     *               "kept_pairs": [[[0, 5, …], …], …]}      (per layer, per KV head, the kept pair indices)
     * </pre>
     */
    public static Mha2MlaConfig parseConversion(String json, String name) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            throw new ConfigException(name + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ConfigException(name + ": top level must be a JSON object");
        JsonFields top = new JsonFields(root, name, "");
        if (!top.has(MHA2MLA)) return null;
        JsonFields m = top.object(MHA2MLA);
        try {
            Mha2MlaConfig.Step step = Mha2MlaConfig.Step.parse(m.string("step", null));
            RopeStrategy strategy = RopeStrategy.parse(m.string("strategy", null));
            int ropeDim = m.integer("d_r", null);
            SvdMethod svd = step.producesMla() ? SvdMethod.fromConfig(m.string("svd", null)) : null;
            int dKv = step.producesMla() ? m.integer("d_kv", null) : 0;
            if (svd != null && m.has("decoupled") && m.bool("decoupled", false) != svd.decoupled()) {
                throw m.error("decoupled", "is " + m.bool("decoupled", false) + " but svd '" + svd.id() + "' is "
                        + (svd.decoupled() ? "" : "not ") + "modality-decoupled");
            }
            return new Mha2MlaConfig(step, strategy, ropeDim, dKv, svd, keptPairs(m));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(name + ": section '" + MHA2MLA + "': " + e.getMessage(), e);
        }
    }

    private static int[][][] keptPairs(JsonFields m) {
        JsonNode p = m.node().get("kept_pairs");
        if (p == null || p.isNull()) throw m.missing("kept_pairs");
        if (!p.isArray()) throw m.error("kept_pairs", "must be a list (per layer) of lists (per KV head) of pair indices");
        int[][][] out = new int[p.size()][][];
        for (int l = 0; l < out.length; l++) {
            JsonNode layer = p.get(l);
            if (!layer.isArray()) throw m.error("kept_pairs[" + l + "]", "must be a list (per KV head) of pair lists, got " + layer);
            out[l] = new int[layer.size()][];
            for (int h = 0; h < out[l].length; h++) {
                JsonNode head = layer.get(h);
                if (!head.isArray()) throw m.error("kept_pairs[" + l + "][" + h + "]", "must be a list of pair indices, got " + head);
                out[l][h] = new int[head.size()];
                for (int i = 0; i < head.size(); i++) {
                    if (!head.get(i).isIntegralNumber()) {
                        throw m.error("kept_pairs[" + l + "][" + h + "]", "must hold integers, got " + head.get(i));
                    }
                    out[l][h][i] = head.get(i).intValue();
                }
            }
        }
        return out;
    }

    /** {@code configJson} with the {@code "mha2mla"} section set to {@code c} (replacing any), pretty-printed. */
    public static String withConversion(String configJson, Mha2MlaConfig c, String name) {
        JsonNode root;
        try {
            root = JSON.readTree(configJson);
        } catch (IOException e) {
            throw new ConfigException(name + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ConfigException(name + ": top level must be a JSON object");
        ObjectNode section = JSON.createObjectNode();
        section.put("step", c.step().id());
        section.put("strategy", c.strategy().id());
        section.put("d_r", c.ropeDim());
        if (c.isMla()) {
            section.put("d_kv", c.dKv());
            section.put("svd", c.svd().id());
        }
        section.put("decoupled", c.decoupled());
        ArrayNode layers = section.putArray("kept_pairs");
        for (int[][] layer : c.keptPairs()) {
            ArrayNode heads = layers.addArray();
            for (int[] head : layer) {
                ArrayNode pairs = heads.addArray();
                for (int k : head) pairs.add(k);
            }
        }
        ((ObjectNode) root).set(MHA2MLA, section);
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n";
        } catch (IOException e) {
            throw new ConfigException(name + ": cannot write JSON: " + e.getMessage(), e);
        }
    }

    private static VlmConfig parse(JsonFields root) {
        String type = root.string("model_type", null);
        try {
            return switch (type) {
                case "llava", "llava_next" -> llava(root, type);
                case "qwen2_5_vl" -> qwen25Vl(root);
                default -> throw root.error("model_type", "is '" + type + "'; supported: llava, llava_next, qwen2_5_vl");
            };
        } catch (ConfigException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            // A consistency rule of the config records (e.g. num_attention_heads a multiple of num_key_value_heads).
            throw new ConfigException(root.file() + ": " + e.getMessage(), e);
        }
    }

    // ---- LLaVA family (transformers LlavaConfig / LlavaNextConfig) ----

    private static LlavaConfig llava(JsonFields root, String type) {
        JsonFields text = root.object("text_config");
        JsonFields vision = root.object("vision_config");
        // LlavaConfig builds LlamaConfig(**text_config) (model_type defaults to llama) and, when
        // vision_config is absent, a CLIP-L/336 tower; with a dict it uses CLIPVisionConfig's defaults.
        TextConfig textConfig = llama(text == null ? new JsonFields(JSON.createObjectNode(), root.file(), "text_config") : text,
                root.bool("tie_word_embeddings", false));
        ClipVisionConfig visionConfig = vision == null ? llavaDefaultClip() : clip(vision);
        List<int[]> pinpoints = new ArrayList<>();
        if (type.equals("llava_next")) {
            JsonNode grid = root.node().get("image_grid_pinpoints");
            if (grid == null || grid.isNull()) {
                for (int[] p : new int[][] {{336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}}) pinpoints.add(p);
            } else {
                if (!grid.isArray()) throw root.error("image_grid_pinpoints", "must be a list of [height, width]");
                for (JsonNode p : grid) {
                    if (!p.isArray() || p.size() != 2 || !p.get(0).canConvertToInt() || !p.get(1).canConvertToInt()
                            || p.get(0).intValue() < 1 || p.get(1).intValue() < 1) {
                        throw root.error("image_grid_pinpoints", "entries must be [height, width] of positive integers, got " + p);
                    }
                    pinpoints.add(new int[] {p.get(0).intValue(), p.get(1).intValue()});
                }
            }
        }
        int featureLayer = root.integer("vision_feature_layer", -2);
        int hiddenStates = visionConfig.numHiddenLayers() + 1;     // the embeddings, then one per layer
        if (featureLayer < -hiddenStates || featureLayer >= hiddenStates) {
            throw root.error("vision_feature_layer", "is " + featureLayer + " but the vision tower has " + hiddenStates
                    + " hidden states (-" + hiddenStates + " .. " + (hiddenStates - 1) + ")");
        }
        return new LlavaConfig(type, textConfig, visionConfig,
                imageTokenId(root, "image_token_index", 32000),
                root.string("projector_hidden_act", "gelu"),
                featureLayer,
                root.string("vision_feature_select_strategy", "default"),
                root.bool("multimodal_projector_bias", true),
                pinpoints);
    }

    /** transformers LlamaConfig defaults. */
    private static TextConfig llama(JsonFields t, boolean topLevelTie) {
        String type = t.string("model_type", "llama");
        if (!type.equals("llama")) throw t.error("model_type", "is '" + type + "'; the LLaVA importers support a llama text model");
        int hidden = t.positive("hidden_size", 4096);
        int heads = t.positive("num_attention_heads", 32);
        double theta = ropeTheta(t, 10000.0);
        return new TextConfig("llama",
                t.positive("vocab_size", 32000), hidden,
                t.positive("intermediate_size", 11008),
                t.positive("num_hidden_layers", 32), heads,
                kvHeads(t, heads, heads),
                headDim(t, hidden, heads),
                t.string("hidden_act", "silu"),
                t.positiveNumber("rms_norm_eps", 1e-6), theta,
                t.positive("max_position_embeddings", 2048),
                t.bool("attention_bias", false),
                t.bool("tie_word_embeddings", topLevelTie),
                t.has("bos_token_id") ? t.integer("bos_token_id", null) : 1,
                t.integers("eos_token_id", List.of(2)),
                t.optionalInteger("pad_token_id"),
                null);
    }

    /** CLIPVisionConfig defaults (quick_gelu, eps 1e-5). */
    private static ClipVisionConfig clip(JsonFields v) {
        int hidden = v.positive("hidden_size", 768);
        int heads = v.positive("num_attention_heads", 12);
        if (hidden % heads != 0) throw v.error("hidden_size", hidden + " is not a multiple of num_attention_heads " + heads);
        int image = v.positive("image_size", 224);
        int patch = v.positive("patch_size", 32);
        if (image % patch != 0) throw v.error("image_size", image + " is not a multiple of patch_size " + patch);
        long side = image / patch;
        if (side * side + 1 > Integer.MAX_VALUE) {
            throw v.error("image_size", image + " / patch_size " + patch + " = " + side + " patches per side: too many positions");
        }
        return new ClipVisionConfig(hidden, v.positive("intermediate_size", 3072),
                v.positive("num_hidden_layers", 12), heads,
                v.positive("num_channels", 3), image, patch,
                v.string("hidden_act", "quick_gelu"), v.positiveNumber("layer_norm_eps", 1e-5),
                v.positive("projection_dim", 512));
    }

    /** The tower LlavaConfig creates when the file has no vision_config: CLIP ViT-L/14 at 336 px. */
    private static ClipVisionConfig llavaDefaultClip() {
        return new ClipVisionConfig(1024, 4096, 24, 16, 3, 336, 14, "quick_gelu", 1e-5, 768);
    }

    // ---- Qwen2.5-VL (transformers Qwen2_5_VLConfig) ----

    private static Qwen25VlConfig qwen25Vl(JsonFields root) {
        // Hub files are flat (text fields at top level); transformers 5 writes a nested text_config.
        JsonFields t = root.has("text_config") ? root.object("text_config") : root;
        int hidden = t.positive("hidden_size", 8192);
        int heads = t.positive("num_attention_heads", 64);
        int headDim = headDim(t, hidden, heads);
        int[] sections = mropeSection(t, root);
        if (t.bool("use_sliding_window", false)) {
            throw t.error("use_sliding_window", "is true; sliding-window decoder attention is not supported");
        }
        TextConfig text = new TextConfig("qwen2_5_vl_text",
                t.positive("vocab_size", 152064), hidden,
                t.positive("intermediate_size", 29568),
                t.positive("num_hidden_layers", 80), heads,
                kvHeads(t, heads, 8), headDim,
                t.string("hidden_act", "silu"),
                t.positiveNumber("rms_norm_eps", 1e-5),
                ropeTheta(t, 1_000_000.0),
                t.positive("max_position_embeddings", 32768),
                true, // Qwen2 attention always has q/k/v biases
                t.bool("tie_word_embeddings", root.bool("tie_word_embeddings", false)),
                t.optionalInteger("bos_token_id") != null ? t.optionalInteger("bos_token_id") : root.optionalInteger("bos_token_id"),
                t.has("eos_token_id") ? t.integers("eos_token_id", List.of()) : root.integers("eos_token_id", List.of()),
                t.has("pad_token_id") ? t.optionalInteger("pad_token_id") : root.optionalInteger("pad_token_id"),
                sections);
        JsonFields v = root.object("vision_config");
        if (v == null) v = new JsonFields(JSON.createObjectNode(), root.file(), "vision_config");
        int depth = v.positive("depth", 32);
        List<Integer> fullAtt = v.integers("fullatt_block_indexes", List.of(7, 15, 23, 31));
        for (int i : fullAtt) {
            if (i < 0 || i >= depth) throw v.error("fullatt_block_indexes", "holds " + i + " outside 0.." + (depth - 1));
        }
        int visionHidden = v.positive("hidden_size", 3584);
        int visionHeads = v.positive("num_heads", 16);
        if (visionHidden % visionHeads != 0) throw v.error("hidden_size", visionHidden + " is not a multiple of num_heads " + visionHeads);
        int patch = v.positive("patch_size", v.positive("spatial_patch_size", 14));
        int merge = v.positive("spatial_merge_size", 2);
        int window = v.positive("window_size", 112);
        // transformers' get_window_index divides by window_size // spatial_merge_size // patch_size.
        if (window < (long) patch * merge) {
            throw v.error("window_size", "is " + window + ", less than patch_size × spatial_merge_size = " + (long) patch * merge);
        }
        // hub files say in_chans, transformers' argument is in_channels
        int channels = v.positive("in_channels", v.positive("in_chans", 3));
        int temporal = v.positive("temporal_patch_size", 2);
        if ((long) channels * temporal * patch * patch > Integer.MAX_VALUE) {
            throw v.error("patch_size", "is " + patch + ": a patch of " + channels + " × " + temporal + " × " + patch + "² values is too large");
        }
        Qwen25VlVisionConfig vision = new Qwen25VlVisionConfig(depth,
                visionHidden, v.string("hidden_act", "silu"),
                v.positive("intermediate_size", 3420), visionHeads, channels,
                patch, merge, temporal,
                v.positiveNumber("tokens_per_second", 4.0), window,
                v.positive("out_hidden_size", 3584), fullAtt);
        if (vision.outHiddenSize() != hidden) {
            throw v.error("out_hidden_size", "is " + vision.outHiddenSize() + " but the decoder hidden_size is " + hidden);
        }
        int vocab = text.vocabSize();
        return new Qwen25VlConfig(text, vision,
                imageTokenId(root, "image_token_id", 151655), imageTokenId(root, "video_token_id", 151656),
                tokenId(root, "vision_start_token_id", 151652, vocab), tokenId(root, "vision_end_token_id", 151653, vocab));
    }

    /** mrope_section from rope_scaling (hub files) or rope_parameters (transformers 5). */
    private static int[] mropeSection(JsonFields t, JsonFields root) {
        for (JsonFields scope : new JsonFields[] {t, root}) {
            for (String key : new String[] {"rope_scaling", "rope_parameters"}) {
                JsonFields rope = scope.object(key);
                if (rope != null && rope.has("mrope_section")) {
                    int[] sections = rope.intArray("mrope_section");
                    for (int x : sections) {
                        if (x < 0) throw rope.error("mrope_section", "must hold non-negative pair counts, got " + java.util.Arrays.toString(sections));
                    }
                    return sections;
                }
            }
        }
        throw t.missing("rope_scaling.mrope_section");
    }

    /**
     * rope_theta is a top-level field in older files and lives in rope_parameters in transformers 5.
     * Only the default (unscaled) rotary embedding is supported: linear/dynamic/yarn/llama3 scaling
     * would change the frequencies and is refused rather than silently ignored.
     */
    private static double ropeTheta(JsonFields t, double fallback) {
        for (String key : new String[] {"rope_scaling", "rope_parameters"}) {
            JsonFields rope = t.object(key);
            if (rope == null) continue;
            String ropeType = rope.has("rope_type") ? rope.string("rope_type", null) : rope.string("type", "default");
            if (!ropeType.equals("default") && !ropeType.equals("mrope")) {
                throw rope.error("rope_type", "is '" + ropeType + "'; only default rotary embeddings (and M-RoPE) are supported");
            }
            if (rope.has("rope_theta")) return rope.positiveNumber("rope_theta", null);
        }
        return t.positiveNumber("rope_theta", fallback);
    }

    /** num_key_value_heads: positive and dividing num_attention_heads (each KV head serves a whole group of query heads). */
    private static int kvHeads(JsonFields t, int heads, int fallback) {
        int kv = t.positive("num_key_value_heads", fallback);
        if (heads % kv != 0) throw t.error("num_key_value_heads", "is " + kv + ", which does not divide num_attention_heads " + heads);
        return kv;
    }

    /** head_dim, or hidden_size / num_attention_heads as transformers derives it (then heads must divide hidden). */
    private static int headDim(JsonFields t, int hidden, int heads) {
        if (t.has("head_dim")) return t.positive("head_dim", null);
        if (hidden % heads != 0) {
            throw t.error("hidden_size", hidden + " is not a multiple of num_attention_heads " + heads + " (and no head_dim is given)");
        }
        return hidden / heads;
    }

    /**
     * An image (or video) placeholder id: non-negative; it may lie past the vocabulary, as transformers' LLaVA replaces
     * those positions before the embedding lookup.
     */
    private static int imageTokenId(JsonFields f, String field, int fallback) {
        int id = f.integer(field, fallback);
        if (id < 0) throw f.error(field, "must be a non-negative token id, got " + id);
        return id;
    }

    /** A special token id that is embedded like text: an index into the decoder's embedding table. */
    private static int tokenId(JsonFields f, String field, int fallback, int vocabSize) {
        int id = f.integer(field, fallback);
        if (id < 0 || id >= vocabSize) throw f.error(field, "is " + id + ", outside the vocabulary (0 .. " + (vocabSize - 1) + ")");
        return id;
    }
}
