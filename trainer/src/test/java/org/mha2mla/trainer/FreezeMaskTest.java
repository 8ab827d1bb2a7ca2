package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;

class FreezeMaskTest {

    @Test
    void stage1TrainsOnlyDecoderQueryAndKeyProjectionsOfTheLlavaFixture() {
        Map<String, Long> sizes = new LinkedHashMap<>();
        try (TensorSource src = KeyLayout.canonical(Checkpoint.open(TestFixtures.dir("llava")), "llava")) {
            for (String n : src.names()) sizes.put(n, src.info(n).numel());
        }
        FreezeMask m = FreezeMask.stage1();
        List<String> trainable = m.trainable(sizes.keySet());
        long expected = 0;
        long total = 0;
        int count = 0;
        for (Map.Entry<String, Long> e : sizes.entrySet()) {
            total += e.getValue();
            if (e.getKey().matches("language_model\\.model\\.layers\\.\\d+\\.self_attn\\.[qk]_proj\\.(weight|bias)")) {
                expected += e.getValue();
                count++;
            }
        }
        assertEquals(6, count);                       // 3 layers × {q, k} weights, no biases in Llama
        assertEquals(count, trainable.size());
        assertEquals(6 * 64 * 64, expected);
        // CLIP has ...encoder.layers.N.self_attn.q_proj too: frozen
        assertTrue(sizes.containsKey("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight"));
        assertFalse(m.isTrainable("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight"));
        assertEquals(String.format(Locale.ROOT, "trainable %,d / total %,d (%.2f%%)", expected, total, 100.0 * expected / total),
                m.summary(sizes));
    }

    @Test
    void stage1CoversQwenBiasesAndTransformers5Names() {
        FreezeMask m = FreezeMask.stage1();
        assertTrue(m.isTrainable("model.layers.27.self_attn.q_proj.bias"));
        assertTrue(m.isTrainable("model.layers.0.self_attn.k_proj.weight"));
        assertTrue(m.isTrainable("model.language_model.layers.3.self_attn.k_proj.bias"));
        assertFalse(m.isTrainable("model.layers.0.self_attn.v_proj.weight"));
        assertFalse(m.isTrainable("model.layers.0.self_attn.o_proj.weight"));
        assertFalse(m.isTrainable("visual.blocks.0.attn.qkv.weight"));
        assertFalse(m.isTrainable("model.embed_tokens.weight"));
    }

    @Test
    void stage2TrainsTheMlaParametersOnly() {
        FreezeMask m = FreezeMask.stage2();
        for (String yes : List.of("model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.bias",
                "model.layers.1.self_attn.k_rope_proj.weight", "language_model.model.layers.0.self_attn.kv_down_proj.text.weight",
                "model.layers.1.self_attn.kv_down_proj.visual.weight", "model.layers.1.self_attn.k_up_proj.text.weight",
                "model.layers.1.self_attn.v_up_proj.visual.weight", "model.layers.1.self_attn.k_nope_bias",
                "model.layers.1.self_attn.v_bias", "model.layers.1.self_attn.v_bias.visual",
                "model.layers.1.self_attn.kv_down_proj.weight", "language_model.model.layers.0.self_attn.v_up_proj.weight")) {
            assertTrue(m.isTrainable(yes), yes);
        }
        for (String no : List.of("model.layers.1.self_attn.k_proj.weight", "model.layers.1.self_attn.v_proj.weight",
                "model.layers.1.self_attn.o_proj.weight", "model.layers.1.self_attn.kv_down_proj.audio.weight",
                "model.layers.1.self_attn.k_up_proj.bias",
                "model.layers.1.mlp.up_proj.weight", "model.norm.weight", "lm_head.weight")) {
            assertFalse(m.isTrainable(no), no);
        }
    }

    @Test
    void globSyntax() {
        assertEquals("[^.]*", FreezeMask.compile("*").pattern());
        FreezeMask one = FreezeMask.of("one", List.of("a.*.c"));
        assertTrue(one.isTrainable("a.b.c"));
        assertFalse(one.isTrainable("a.b.x.c"));                 // * stays within a segment
        FreezeMask any = FreezeMask.of("any", List.of("a.**.c", "x?z", "{p,q}.w"));
        assertTrue(any.isTrainable("a.b.x.c"));
        assertTrue(any.isTrainable("xyz"));
        assertFalse(any.isTrainable("x.z"));
        assertTrue(any.isTrainable("q.w"));
        assertFalse(any.isTrainable("pq.w"));
        assertTrue(FreezeMask.of("re", List.of("re:.*\\.q_proj\\..*")).isTrainable("vision.q_proj.weight"));
        assertThrows(IllegalArgumentException.class, () -> FreezeMask.of("bad", List.of("{a,b")));
    }

    @Test
    void aMaskMatchingNothingIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FreezeMask.stage2().trainable(List.of("model.layers.0.self_attn.k_proj.weight")));
        assertTrue(e.getMessage().contains("stage2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FreezeMask.forStage(3));
    }
}
