package org.mha2mla.importers.qwen25vl;

import java.util.List;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.Qwen25VlVisionConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.config.JsonFields;

/** config.json of Qwen2.5-VL with transformers' Qwen2_5_VLConfig defaults for absent fields (flat hub files and nested ones). */
final class Qwen25VlConfigParser {

    private Qwen25VlConfigParser() {
    }

    /** config.json of model_type qwen2_5_vl. */
    static Qwen25VlConfig parse(JsonFields root) {
        // Hub files are flat (text fields at top level); transformers 5 writes a nested text_config.
        JsonFields t = root.has("text_config") ? root.object("text_config") : root;
        int hidden = t.positive("hidden_size", 8192);
        int heads = t.positive("num_attention_heads", 64);
        int headDim = HfConfigParser.headDim(t, hidden, heads);
        int[] sections = mropeSection(t, root);
        if (t.bool("use_sliding_window", false)) {
            throw t.error("use_sliding_window", "is true; sliding-window decoder attention is not supported");
        }
        TextConfig text = new TextConfig("qwen2_5_vl_text",
                t.positive("vocab_size", 152064), hidden,
                t.positive("intermediate_size", 29568),
                t.positive("num_hidden_layers", 80), heads,
                HfConfigParser.kvHeads(t, heads, 8), headDim,
                t.string("hidden_act", "silu"),
                t.positiveNumber("rms_norm_eps", 1e-5),
                HfConfigParser.ropeTheta(t, 1_000_000.0),
                t.positive("max_position_embeddings", 32768),
                true, // Qwen2 attention always has q/k/v biases
                t.bool("tie_word_embeddings", root.bool("tie_word_embeddings", false)),
                t.optionalInteger("bos_token_id") != null ? t.optionalInteger("bos_token_id") : root.optionalInteger("bos_token_id"),
                t.has("eos_token_id") ? t.integers("eos_token_id", List.of()) : root.integers("eos_token_id", List.of()),
                t.has("pad_token_id") ? t.optionalInteger("pad_token_id") : root.optionalInteger("pad_token_id"),
                sections);
        JsonFields v = root.object("vision_config");
        if (v == null) v = new JsonFields(JsonNodeFactory.instance.objectNode(), root.file(), "vision_config");
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
                HfConfigParser.imageTokenId(root, "image_token_id", 151655), HfConfigParser.imageTokenId(root, "video_token_id", 151656),
                HfConfigParser.tokenId(root, "vision_start_token_id", 151652, vocab), HfConfigParser.tokenId(root, "vision_end_token_id", 151653, vocab));
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
}
