package org.mha2mla.importers.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.TextConfig;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;
import org.mha2mla.fixtures.Fixtures;

class HfConfigParserTest {

    private static Path fixture(String name) {
        return Fixtures.hf(name);
    }

    @Test
    void llavaFixtureGetsLlamaAndClipDefaults() {
        LlavaConfig c = (LlavaConfig) HfConfigParser.read(fixture("llava"));
        TextConfig t = c.textConfig();
        assertEquals(64, t.hiddenSize());
        assertEquals(4, t.numAttentionHeads());
        assertEquals(4, t.numKeyValueHeads(), "MHA: kv heads default to heads");
        assertEquals(16, t.headDim());
        assertEquals(10000.0, t.ropeTheta(), "rope_theta omitted: Llama default");
        assertEquals("silu", t.hiddenAct());
        assertEquals(1e-5, t.rmsNormEps());
        assertFalse(t.attentionBias());
        assertEquals("quick_gelu", c.visionConfig().hiddenAct(), "CLIP default when omitted");
        assertEquals(1e-5, c.visionConfig().layerNormEps());
        assertEquals(3, c.imageTokenIndex());
        assertEquals(-2, c.visionFeatureLayer());
        assertEquals(16, c.visionConfig().patchesPerSide() * c.visionConfig().patchesPerSide());
        assertTrue(c.imageGridPinpoints().isEmpty());
    }

    @Test
    void llavaNextFixtureIsGqaWithPinpoints() {
        LlavaConfig c = (LlavaConfig) HfConfigParser.read(fixture("llava_next"));
        assertTrue(c.isNext());
        assertEquals(8, c.textConfig().numAttentionHeads());
        assertEquals(2, c.textConfig().numKeyValueHeads());
        assertEquals(4, c.textConfig().groupSize());
        assertEquals(500000.0, c.textConfig().ropeTheta());
        assertEquals(5, c.imageGridPinpoints().size());
        assertArrayEquals(new int[] {56, 112}, c.imageGridPinpoints().get(0));
    }

    @Test
    void qwenFixtureHasMropeBiasAndVisionTower() {
        Qwen25VlConfig c = (Qwen25VlConfig) HfConfigParser.read(fixture("qwen2_5_vl"));
        TextConfig t = c.textConfig();
        assertArrayEquals(new int[] {2, 3, 3}, t.mropeSection());
        assertTrue(t.attentionBias());
        assertEquals(1e-6, t.rmsNormEps());
        assertEquals(1_000_000.0, t.ropeTheta());
        assertEquals(6, c.imageTokenId());
        assertEquals(3, c.visionStartTokenId());
        assertEquals(4, c.visionConfig().depth());
        assertEquals(java.util.List.of(1, 3), c.visionConfig().fullattBlockIndexes());
        assertEquals(3 * 2 * 14 * 14, c.visionConfig().patchVolume());
        assertEquals(56, c.visionConfig().windowSize());
    }

    @Test
    void realLlava15HubConfigFillsOmittedFields() {
        // The text of llava-hf/llava-1.5-7b-hf's config.json (abridged to the fields it has).
        String hub = """
                {"architectures":["LlavaForConditionalGeneration"],"ignore_index":-100,"image_token_index":32000,
                 "model_type":"llava","pad_token_id":32001,"projector_hidden_act":"gelu",
                 "text_config":{"_name_or_path":"lmsys/vicuna-7b-v1.5","architectures":["LlamaForCausalLM"],
                   "max_position_embeddings":4096,"model_type":"llama","rms_norm_eps":1e-05,"torch_dtype":"float16","vocab_size":32064},
                 "tie_word_embeddings":false,"torch_dtype":"float16",
                 "vision_config":{"hidden_size":1024,"image_size":336,"intermediate_size":4096,"model_type":"clip_vision_model",
                   "num_attention_heads":16,"num_hidden_layers":24,"patch_size":14,"projection_dim":768,"vocab_size":32000},
                 "vision_feature_layer":-2,"vision_feature_select_strategy":"default","vocab_size":32064}
                """;
        LlavaConfig c = (LlavaConfig) HfConfigParser.parse(hub, "llava-1.5-7b-hf/config.json");
        assertEquals(4096, c.textConfig().hiddenSize());
        assertEquals(32, c.textConfig().numHiddenLayers());
        assertEquals(32, c.textConfig().numKeyValueHeads());
        assertEquals(128, c.textConfig().headDim());
        assertEquals(11008, c.textConfig().intermediateSize());
        assertEquals(10000.0, c.textConfig().ropeTheta());
        assertEquals(32064, c.textConfig().vocabSize());
        assertEquals("quick_gelu", c.visionConfig().hiddenAct());
        assertEquals(577, c.visionConfig().numPositions());
    }

    @Test
    void transformers5NestedQwenConfigWithRopeParameters() {
        String nested = """
                {"model_type":"qwen2_5_vl","image_token_id":151655,
                 "text_config":{"hidden_size":3584,"num_attention_heads":28,"num_key_value_heads":4,"num_hidden_layers":28,
                   "intermediate_size":18944,"vocab_size":152064,"rms_norm_eps":1e-06,
                   "rope_parameters":{"rope_type":"default","rope_theta":1000000.0,"mrope_section":[16,24,24]}},
                 "vision_config":{"depth":32,"hidden_size":1280,"out_hidden_size":3584,"in_chans":3}}
                """;
        Qwen25VlConfig c = (Qwen25VlConfig) HfConfigParser.parse(nested, "qwen/config.json");
        assertEquals(128, c.textConfig().headDim());
        assertArrayEquals(new int[] {16, 24, 24}, c.textConfig().mropeSection());
        assertEquals(1_000_000.0, c.textConfig().ropeTheta());
        assertEquals(16, c.visionConfig().numHeads(), "vision defaults fill absent fields");
        assertEquals(java.util.List.of(7, 15, 23, 31), c.visionConfig().fullattBlockIndexes());
    }

    @Test
    void errorsNameTheFileAndField(@TempDir Path dir) throws Exception {
        ConfigException missing = assertThrows(ConfigException.class, () -> HfConfigParser.read(dir));
        assertTrue(missing.getMessage().contains("config.json"), missing.getMessage());

        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"qwen2_5_vl\", \"hidden_size\": 64}");
        ConfigException noMrope = assertThrows(ConfigException.class, () -> HfConfigParser.read(dir));
        assertTrue(noMrope.getMessage().contains("mrope_section"), noMrope.getMessage());
        assertTrue(noMrope.getMessage().contains(dir.resolve("config.json").toString()), noMrope.getMessage());

        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"llava\", \"text_config\": {\"hidden_size\": \"big\"}}");
        ConfigException badType = assertThrows(ConfigException.class, () -> HfConfigParser.read(dir));
        assertTrue(badType.getMessage().contains("text_config.hidden_size"), badType.getMessage());

        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"mistral\"}");
        ConfigException unsupported = assertThrows(ConfigException.class, () -> HfConfigParser.read(dir));
        assertTrue(unsupported.getMessage().contains("mistral"), unsupported.getMessage());

        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"llava\", \"text_config\": {\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}}");
        ConfigException yarn = assertThrows(ConfigException.class, () -> HfConfigParser.read(dir));
        assertTrue(yarn.getMessage().contains("yarn"), yarn.getMessage());

        Files.writeString(dir.resolve("config.json"), "{\"model_type\": ");
        assertThrows(ConfigException.class, () -> HfConfigParser.read(dir));
    }

    /**
     * Sizes that would divide by zero, build negative arrays or mis-shape attention are refused with the file and the
     * field (the old behaviour: "/ by zero" for num_attention_heads or patch_size 0, a SameDiff error for -1 layers).
     */
    @Test
    void impossibleSizesNameTheField() throws Exception {
        String[][] cases = {
                {"llava", "text_config", "num_attention_heads", "0", "text_config.num_attention_heads' must be a positive integer, got 0"},
                {"llava", "text_config", "num_hidden_layers", "-1", "text_config.num_hidden_layers' must be a positive integer, got -1"},
                {"llava", "text_config", "num_key_value_heads", "3", "text_config.num_key_value_heads' is 3, which does not divide num_attention_heads 4"},
                {"llava", "text_config", "hidden_size", "66", "text_config.hidden_size' 66 is not a multiple of num_attention_heads 4"},
                {"llava", "text_config", "head_dim", "0", "text_config.head_dim' must be a positive integer, got 0"},
                {"llava", "text_config", "vocab_size", "0", "text_config.vocab_size' must be a positive integer"},
                {"llava", "text_config", "max_position_embeddings", "-5", "text_config.max_position_embeddings' must be a positive integer"},
                {"llava", "text_config", "rms_norm_eps", "-1e-6", "text_config.rms_norm_eps' must be a finite number greater than 0"},
                {"llava", "text_config", "rope_theta", "0", "text_config.rope_theta' must be a finite number greater than 0"},
                {"llava", "text_config", "rope_theta", "-10000", "text_config.rope_theta' must be a finite number greater than 0, got -10000"},
                {"llava", "vision_config", "patch_size", "0", "vision_config.patch_size' must be a positive integer, got 0"},
                {"llava", "vision_config", "num_attention_heads", "0", "vision_config.num_attention_heads' must be a positive integer"},
                {"llava", "vision_config", "patch_size", "15", "vision_config.image_size' 56 is not a multiple of patch_size 15"},
                {"llava", "vision_config", "num_hidden_layers", "0", "vision_config.num_hidden_layers' must be a positive integer"},
                {"llava", null, "vision_feature_layer", "7", "'vision_feature_layer' is 7 but the vision tower has 4 hidden states"},
                {"llava", null, "image_token_index", "-1", "'image_token_index' must be a non-negative token id"},
                {"qwen2_5_vl", "vision_config", "patch_size", "0", "vision_config.patch_size' must be a positive integer, got 0"},
                {"qwen2_5_vl", "vision_config", "depth", "-1", "vision_config.depth' must be a positive integer"},
                {"qwen2_5_vl", "vision_config", "num_heads", "0", "vision_config.num_heads' must be a positive integer"},
                {"qwen2_5_vl", "vision_config", "window_size", "2", "vision_config.window_size' is 2, less than patch_size × spatial_merge_size"},
                {"qwen2_5_vl", "vision_config", "spatial_merge_size", "0", "vision_config.spatial_merge_size' must be a positive integer"},
                {"qwen2_5_vl", null, "num_hidden_layers", "0", "'num_hidden_layers' must be a positive integer, got 0"},
                {"qwen2_5_vl", null, "vision_start_token_id", "999999999", "'vision_start_token_id' is 999999999, outside the vocabulary"}};
        com.fasterxml.jackson.databind.ObjectMapper om = new com.fasterxml.jackson.databind.ObjectMapper();
        for (String[] c : cases) {
            com.fasterxml.jackson.databind.node.ObjectNode root =
                    (com.fasterxml.jackson.databind.node.ObjectNode) om.readTree(Files.readString(fixture(c[0]).resolve("config.json")));
            com.fasterxml.jackson.databind.node.ObjectNode where = c[1] == null ? root : (com.fasterxml.jackson.databind.node.ObjectNode) root.get(c[1]);
            if (where == null) where = root;    // qwen hub files are flat
            where.set(c[2], om.readTree(c[3]));
            ConfigException e = assertThrows(ConfigException.class, () -> HfConfigParser.parse(om.writeValueAsString(root), "x/config.json"),
                    c[2] + "=" + c[3]);
            assertTrue(e.getMessage().startsWith("x/config.json: "), e.getMessage());
            assertTrue(e.getMessage().contains(c[4]), c[2] + "=" + c[3] + ": " + e.getMessage());
        }
    }

    /** Defaults of an absent section are still reported with the file (found by the fuzz suite: ": field 'vision_config…'"). */
    @Test
    void defaultsOfAnAbsentSectionNameTheFile() {
        ConfigException e = assertThrows(ConfigException.class, () -> HfConfigParser.parse("{\"model_type\": \"qwen2_5_vl\", "
                + "\"hidden_size\": 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"rope_scaling\": {\"mrope_section\": [2, 3, 3]}}", "y/config.json"));
        assertEquals("y/config.json: field 'vision_config.out_hidden_size' is 3584 but the decoder hidden_size is 64", e.getMessage());
    }

    @Test
    void conversionSectionRoundTripsAndIsAbsentFromOriginalModels() throws Exception {
        assertNull(HfConfigParser.readConversion(fixture("qwen2_5_vl")));
        String original = Files.readString(fixture("qwen2_5_vl").resolve("config.json"));
        int[][][] kept = {{{0, 5}, {1, 7}}, {{2, 3}, {4, 6}}, {{0, 1}, {2, 7}}};
        org.mha2mla.core.config.Mha2MlaConfig mla = new org.mha2mla.core.config.Mha2MlaConfig(
                org.mha2mla.core.config.Mha2MlaConfig.Step.ALL, org.mha2mla.core.partialrope.RopeStrategy.TWO_NORM, 4, 8,
                org.mha2mla.core.svd.SvdMethod.MD, kept);
        String converted = HfConfigParser.withConversion(original, mla, "config.json");
        assertEquals(mla, HfConfigParser.parseConversion(converted, "config.json"));
        assertTrue(converted.contains("\"strategy\" : \"2norm\"") && converted.contains("\"decoupled\" : true"), converted);
        // the model itself still parses as before, section or not
        assertEquals(HfConfigParser.parse(original, "a").textConfig().hiddenSize(), HfConfigParser.parse(converted, "b").textConfig().hiddenSize());
        org.mha2mla.core.config.Mha2MlaConfig rope = org.mha2mla.core.config.Mha2MlaConfig.partialRope(
                org.mha2mla.core.partialrope.RopeStrategy.MKL, new org.mha2mla.core.partialrope.RopeSelection(16, kept));
        String partial = HfConfigParser.withConversion(converted, rope, "config.json");   // replaces the section
        assertEquals(rope, HfConfigParser.parseConversion(partial, "config.json"));
        assertFalse(partial.contains("d_kv"), partial);
    }

    @Test
    void aSectionThatDoesNotFitTheModelIsRefusedWithTheFile(@TempDir Path tmp) throws Exception {
        String original = Files.readString(fixture("qwen2_5_vl").resolve("config.json"));
        int[][][] twoLayers = {{{0, 5}, {1, 7}}, {{2, 3}, {4, 6}}};           // the fixture has 3 layers
        org.mha2mla.core.config.Mha2MlaConfig mla = new org.mha2mla.core.config.Mha2MlaConfig(
                org.mha2mla.core.config.Mha2MlaConfig.Step.ALL, org.mha2mla.core.partialrope.RopeStrategy.MKL, 4, 8,
                org.mha2mla.core.svd.SvdMethod.MD, twoLayers);
        Files.writeString(tmp.resolve("config.json"), HfConfigParser.withConversion(original, mla, "config.json"));
        ConfigException e = assertThrows(ConfigException.class, () -> HfConfigParser.readConversion(tmp));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("num_hidden_layers = 3"), e.getMessage());
    }

    @Test
    void brokenConversionSectionsNameTheFieldAndTheProblem() {
        String base = "{\"model_type\": \"qwen2_5_vl\", \"mha2mla\": ";
        ConfigException e = assertThrows(ConfigException.class, () -> HfConfigParser.parseConversion(base
                + "{\"step\": \"all\", \"strategy\": \"mkl\", \"d_r\": 4, \"d_kv\": 8, \"svd\": \"md\"}}", "x/config.json"));
        assertEquals("x/config.json: required field 'mha2mla.kept_pairs' is missing", e.getMessage());
        e = assertThrows(ConfigException.class, () -> HfConfigParser.parseConversion(base
                + "{\"step\": \"all\", \"strategy\": \"mkl\", \"d_r\": 6, \"d_kv\": 8, \"svd\": \"md\", \"kept_pairs\": [[[0, 1]]]}}", "x/config.json"));
        assertTrue(e.getMessage().contains("d_r = 6") && e.getMessage().contains("2 pairs"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> HfConfigParser.parseConversion(base
                + "{\"step\": \"all\", \"strategy\": \"mkl\", \"d_r\": 2, \"d_kv\": 8, \"svd\": \"joint\", \"decoupled\": true, "
                + "\"kept_pairs\": [[[0]]]}}", "x/config.json"));
        assertTrue(e.getMessage().contains("'mha2mla.decoupled'"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> HfConfigParser.parseConversion(base
                + "{\"step\": \"svd\", \"strategy\": \"mkl\", \"d_r\": 2, \"svd\": \"md\", \"kept_pairs\": [[[0]]]}}", "x/config.json"));
        assertEquals("x/config.json: required field 'mha2mla.d_kv' is missing", e.getMessage());
        e = assertThrows(ConfigException.class, () -> HfConfigParser.parseConversion(base
                + "{\"step\": \"rope\", \"strategy\": \"fancy\", \"d_r\": 2, \"kept_pairs\": [[[0]]]}}", "x/config.json"));
        assertTrue(e.getMessage().contains("unknown partial-RoPE strategy 'fancy'"), e.getMessage());
    }
}
