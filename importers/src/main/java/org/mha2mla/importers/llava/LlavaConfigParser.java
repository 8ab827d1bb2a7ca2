package org.mha2mla.importers.llava;

import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.mha2mla.core.config.ClipVisionConfig;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.config.JsonFields;

/** config.json of LLaVA-1.5 / LLaVA-NeXT with transformers' LlavaConfig / LlavaNextConfig defaults for absent fields. */
final class LlavaConfigParser {

    private LlavaConfigParser() {
    }

    /** config.json of model_type {@code type} (llava, llava_next). */
    static LlavaConfig parse(JsonFields root, String type) {
        JsonFields text = root.object("text_config");
        JsonFields vision = root.object("vision_config");
        // LlavaConfig builds LlamaConfig(**text_config) (model_type defaults to llama) and, when
        // vision_config is absent, a CLIP-L/336 tower; with a dict it uses CLIPVisionConfig's defaults.
        TextConfig textConfig = llama(text == null ? new JsonFields(JsonNodeFactory.instance.objectNode(), root.file(), "text_config") : text,
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
                HfConfigParser.imageTokenId(root, "image_token_index", 32000),
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
        double theta = HfConfigParser.ropeTheta(t, 10000.0);
        return new TextConfig("llama",
                t.positive("vocab_size", 32000), hidden,
                t.positive("intermediate_size", 11008),
                t.positive("num_hidden_layers", 32), heads,
                HfConfigParser.kvHeads(t, heads, heads),
                HfConfigParser.headDim(t, hidden, heads),
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
}
