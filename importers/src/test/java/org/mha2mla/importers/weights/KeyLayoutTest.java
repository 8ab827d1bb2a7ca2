package org.mha2mla.importers.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsException;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KeyLayoutTest {

    /** Hand-written from transformers' _checkpoint_conversion_mapping (hub key → new key), one per rule. */
    private static final Map<String, Map<String, String>> EXPECTED = Map.of(
            "llava", Map.of(
                    "language_model.model.layers.0.self_attn.q_proj.weight", "model.language_model.layers.0.self_attn.q_proj.weight",
                    "language_model.model.embed_tokens.weight", "model.language_model.embed_tokens.weight",
                    "language_model.model.norm.weight", "model.language_model.norm.weight",
                    "language_model.lm_head.weight", "lm_head.weight",
                    "vision_tower.vision_model.embeddings.patch_embedding.weight", "model.vision_tower.vision_model.embeddings.patch_embedding.weight",
                    "multi_modal_projector.linear_1.weight", "model.multi_modal_projector.linear_1.weight"),
            "llava_next", Map.of(
                    "image_newline", "model.image_newline",
                    "language_model.lm_head.weight", "lm_head.weight",
                    "vision_tower.vision_model.pre_layrnorm.bias", "model.vision_tower.vision_model.pre_layrnorm.bias"),
            "qwen2_5_vl", Map.of(
                    "model.layers.0.self_attn.q_proj.bias", "model.language_model.layers.0.self_attn.q_proj.bias",
                    "model.embed_tokens.weight", "model.language_model.embed_tokens.weight",
                    "model.norm.weight", "model.language_model.norm.weight",
                    "lm_head.weight", "lm_head.weight",
                    "visual.blocks.0.attn.qkv.weight", "model.visual.blocks.0.attn.qkv.weight",
                    "visual.patch_embed.proj.weight", "model.visual.patch_embed.proj.weight",
                    "visual.merger.mlp.0.weight", "model.visual.merger.mlp.0.weight"));

    @Test
    void renameRulesMatchTransformers() {
        EXPECTED.forEach((type, m) -> m.forEach((hub, newer) -> {
            assertEquals(newer, KeyLayout.toNew(hub, type), type + " " + hub);
            assertEquals(hub, KeyLayout.toCanonical(newer, type), type + " " + newer);
            assertEquals(hub, KeyLayout.toCanonical(hub, type), type + " canonical is a fixed point");
        }));
        // transformers 5.x spelling of the CLIP tower (no vision_model level), as in the fixtures
        assertEquals("vision_tower.vision_model.encoder.layers.2.mlp.fc1.weight",
                KeyLayout.toCanonical("vision_tower.encoder.layers.2.mlp.fc1.weight", "llava"));
        assertEquals("vision_tower.vision_model.encoder.layers.2.mlp.fc1.weight",
                KeyLayout.toCanonical("model.vision_tower.encoder.layers.2.mlp.fc1.weight", "llava"));
        assertNull(KeyLayout.toCanonical("visual.blocks.0.attn.qkv.weight", "llava"));
        assertNull(KeyLayout.toNew("model.language_model.norm.weight", "qwen2_5_vl"), "already new, not a hub key");
        assertThrows(IllegalArgumentException.class, () -> KeyLayout.toNew("x", "gpt2"));
    }

    @Test
    void fixturesAreHubLayoutAndCanonicalAddsClipVisionModel() {
        for (String type : List.of("llava", "llava_next", "qwen2_5_vl")) {
            try (Checkpoint c = Checkpoint.open(CheckpointTest.fixture(type))) {
                assertEquals(KeyLayout.Layout.HUB, KeyLayout.detect(c.names(), type, "fixture"));
                TensorSource canon = KeyLayout.canonical(c, type);
                assertEquals(c.names().size(), canon.names().size());
                for (String k : canon.names()) {
                    boolean clip = k.startsWith("vision_tower.");
                    assertTrue(!clip || k.startsWith("vision_tower.vision_model."), k);
                }
                if (type.equals("qwen2_5_vl")) assertSame(c, canon, "Qwen fixture keys are canonical already");
                for (String hub : EXPECTED.get(type).keySet()) {
                    assertTrue(canon.contains(hub), type + " fixture lacks " + hub);
                }
            }
        }
    }

    /** Writes each fixture under new-layout names, reopens it, and reads it back under canonical names. */
    @Test
    void newLayoutFileReadsBackIdenticallyUnderCanonicalNames(@TempDir Path tmp) {
        Map<String, DType> storage = Map.of("llava", DType.F16, "llava_next", DType.BF16, "qwen2_5_vl", DType.BF16);
        for (String type : storage.keySet()) {
            Path dir = tmp.resolve(type);
            try (Checkpoint hub = Checkpoint.open(CheckpointTest.fixture(type))) {
                TensorSource canon = KeyLayout.canonical(hub, type);
                TensorSource asNew = KeyLayout.newLayout(canon, type);
                SafeTensorsWriter.writeSharded(dir, TensorSource.entries(asNew, storage.get(type)), Map.of("format", "pt"), 200_000);
                try (Checkpoint written = Checkpoint.open(dir)) {
                    assertEquals(KeyLayout.Layout.NEW, KeyLayout.detect(written.names(), type, "written"));
                    for (Map.Entry<String, String> e : EXPECTED.get(type).entrySet()) {
                        assertTrue(written.contains(e.getValue()), type + ": " + e.getValue() + " missing from the new-layout file");
                    }
                    TensorSource back = KeyLayout.canonical(written, type);
                    assertEquals(new HashSet<>(canon.names()), new HashSet<>(back.names()));
                    for (String k : canon.names()) {
                        INDArray a = canon.get(k), b = back.get(k);
                        assertArrayEquals(a.shape(), b.shape(), k);
                        assertEquals(a, b, k);
                        assertEquals(canon.info(k).dtype(), back.info(k).dtype(), k);
                        assertEquals(k, back.info(k).name());
                    }
                }
            }
        }
    }

    @Test
    void wrongModelTypeOrMixedLayoutIsAClearError(@TempDir Path tmp) {
        try (Checkpoint qwen = Checkpoint.open(CheckpointTest.fixture("qwen2_5_vl"))) {
            SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> KeyLayout.canonical(qwen, "llava"));
            assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("llava")
                    && e.getMessage().contains("model.embed_tokens.weight") && e.getMessage().contains("lm_head.weight"), e.getMessage());
        }
        Set<String> mixed = new java.util.LinkedHashSet<>(List.of("model.layers.0.mlp.up_proj.weight", "model.language_model.norm.weight"));
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> KeyLayout.detect(mixed, "qwen2_5_vl", "mixed.safetensors"));
        assertTrue(e.getMessage().contains("mixed.safetensors") && e.getMessage().contains("model.language_model.norm.weight"), e.getMessage());
        // hub and transformers-5 spellings of the same CLIP tensor in one file: both canonicalise to one name
        Path dup = tmp.resolve("dup.safetensors");
        SafeTensorsWriter.write(dup, new java.util.LinkedHashMap<>(Map.of(
                "vision_tower.vision_model.post_layernorm.weight", org.nd4j.linalg.factory.Nd4j.ones(4),
                "vision_tower.post_layernorm.weight", org.nd4j.linalg.factory.Nd4j.zeros(4))), Map.of(), DType.F32);
        try (Checkpoint c = Checkpoint.open(dup)) {
            SafeTensorsException d = assertThrows(SafeTensorsException.class, () -> KeyLayout.canonical(c, "llava"));
            assertTrue(d.getMessage().contains("dup.safetensors") && d.getMessage().contains("vision_tower.post_layernorm.weight"), d.getMessage());
        }
    }
}
