package org.mha2mla.importers.init;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.fixtures.Fixtures;

class WeightPlanTest {

    static final Path FIXTURES = Fixtures.hfRoot();

    private static List<WeightPlan.Tensor> plan(String config) {
        PaperConfigs.Spec s = PaperConfigs.resolve(config);
        return WeightPlan.of(s.config(), s.raw());
    }

    private static Map<String, WeightPlan.Tensor> byName(List<WeightPlan.Tensor> plan) {
        Map<String, WeightPlan.Tensor> m = new LinkedHashMap<>();
        for (WeightPlan.Tensor t : plan) m.put(t.name(), t);
        return m;
    }

    /** Llama / Qwen2 decoder parameters from the config's numbers (the formula, not the plan). */
    private static long decoder(long vocab, long d, long layers, long heads, long kvHeads, long ff, boolean qkvBias) {
        long hd = d / heads;
        long attention = d * heads * hd + 2 * d * kvHeads * hd + heads * hd * d + (qkvBias ? heads * hd + 2 * kvHeads * hd : 0);
        return 2 * vocab * d + layers * (attention + 3 * d * ff + 2 * d) + d;
    }

    private static long clip(long d, long layers, long ff, long image, long patch) {
        long positions = (image / patch) * (image / patch) + 1;
        long layer = 4 * (d * d + d) + 2 * 2 * d + d * ff + ff + ff * d + d;
        return d + 3 * patch * patch * d + positions * d + 2 * d + layers * layer + 2 * d;
    }

    /** The published parameter counts: 7,063,427,072 / 8,355,276,800 / 8,292,166,656 (7.06 B, 8.36 B, 8.29 B). */
    @Test
    void paperConfigsHaveThePublishedParameterCounts() {
        long projector = 1024L * 4096 + 4096 + 4096L * 4096 + 4096;
        long llava15 = decoder(32064, 4096, 32, 32, 32, 11008, false) + clip(1024, 24, 4096, 336, 14) + projector;
        long next8b = decoder(128320, 4096, 32, 32, 8, 14336, false) + clip(1024, 24, 4096, 336, 14) + projector + 4096;
        long vd = 1280, vff = 3420, merged = 4 * vd;
        long qwenVision = vd * 3 * 2 * 14 * 14 + 32 * (2 * vd + 3 * vd * vd + 3 * vd + vd * vd + vd + 2 * (vd * vff + vff) + vff * vd + vd)
                + vd + merged * merged + merged + merged * 3584 + 3584;
        long qwen = decoder(152064, 3584, 28, 28, 4, 18944, true) + qwenVision;
        assertEquals(7_063_427_072L, llava15);
        assertEquals(8_355_276_800L, next8b);
        assertEquals(8_292_166_656L, qwen);
        assertEquals(llava15, WeightPlan.parameters(plan("llava-1.5-7b")));
        assertEquals(next8b, WeightPlan.parameters(plan("llama3-llava-next-8b")));
        assertEquals(qwen, WeightPlan.parameters(plan("qwen2.5-vl-7b-instruct")));
    }

    /** The fixtures were saved by transformers 5.17: the plan has exactly their tensors, at their shapes. */
    @Test
    void fixturePlansHaveTheFixturesTensors() {
        for (String t : new String[]{"llava", "llava_next", "qwen2_5_vl"}) {
            Map<String, long[]> expected = new TreeMap<>();
            try (SafeTensorsFile f = SafeTensorsFile.open(FIXTURES.resolve(t).resolve("model.safetensors"))) {
                for (String n : f.names()) expected.put(n, f.info(n).shape());
            }
            Map<String, WeightPlan.Tensor> got = byName(plan(FIXTURES.resolve(t).resolve("config.json").toString()));
            assertEquals(expected.keySet(), new TreeMap<>(got).keySet(), t);
            expected.forEach((n, shape) -> assertArrayEquals(shape, got.get(n).shape(), t + " " + n));
        }
    }

    @Test
    void initMatchesEachClassesInitWeights() {
        Map<String, WeightPlan.Tensor> llava = byName(plan(FIXTURES.resolve("llava_next/config.json").toString()));
        double d = 48, layers = 3;
        assertStd(llava, "vision_tower.embeddings.class_embedding", 1 / Math.sqrt(d));
        assertStd(llava, "vision_tower.embeddings.patch_embedding.weight", 0.02);
        assertStd(llava, "vision_tower.encoder.layers.1.self_attn.q_proj.weight", 1 / Math.sqrt(d) / Math.sqrt(2 * layers));
        assertStd(llava, "vision_tower.encoder.layers.1.self_attn.out_proj.weight", 1 / Math.sqrt(d));
        assertStd(llava, "vision_tower.encoder.layers.1.mlp.fc1.weight", 1 / Math.sqrt(2 * d));
        assertStd(llava, "vision_tower.encoder.layers.1.mlp.fc2.weight", 1 / Math.sqrt(d) / Math.sqrt(2 * layers));
        assertStd(llava, "image_newline", 1 / Math.sqrt(64));
        assertStd(llava, "multi_modal_projector.linear_1.weight", 0.02);
        assertStd(llava, "language_model.lm_head.weight", 0.02);
        assertEquals(new WeightPlan.Constant(1f), llava.get("vision_tower.pre_layrnorm.weight").init());
        assertEquals(new WeightPlan.Constant(0f), llava.get("vision_tower.encoder.layers.0.self_attn.k_proj.bias").init());
        assertEquals(new WeightPlan.Constant(1f), llava.get("language_model.model.layers.2.post_attention_layernorm.weight").init());
        assertEquals(-1, ((WeightPlan.Normal) llava.get("language_model.model.embed_tokens.weight").init()).zeroRow());

        Map<String, WeightPlan.Tensor> qwen = byName(plan(FIXTURES.resolve("qwen2_5_vl/config.json").toString()));
        assertStd(qwen, "visual.patch_embed.proj.weight", 0.02);
        assertStd(qwen, "visual.merger.mlp.2.weight", 0.02);
        assertEquals(new WeightPlan.Constant(0f), qwen.get("model.layers.0.self_attn.q_proj.bias").init());
        assertEquals(new WeightPlan.Constant(1f), qwen.get("visual.merger.ln_q.weight").init());
    }

    /** State-dict order: a module's own parameters before its children's, sub-modules in registration order. */
    @Test
    void tensorsComeInStateDictOrder() {
        List<WeightPlan.Tensor> next = plan("llama3-llava-next-8b");
        assertEquals("image_newline", next.get(0).name());
        assertEquals("vision_tower.embeddings.class_embedding", next.get(1).name());
        assertEquals("vision_tower.encoder.layers.0.self_attn.k_proj.weight", next.get(6).name());
        assertEquals("language_model.lm_head.weight", next.get(next.size() - 1).name());
        List<WeightPlan.Tensor> qwen = plan("qwen2.5-vl-7b-instruct");
        assertEquals("visual.patch_embed.proj.weight", qwen.get(0).name());
        assertEquals("model.embed_tokens.weight", qwen.get(1 + 32 * 12 + 5).name());
        assertEquals("lm_head.weight", qwen.get(qwen.size() - 1).name());
        assertTrue(qwen.stream().noneMatch(t -> t.name().contains("o_proj.bias")));
    }

    private static void assertStd(Map<String, WeightPlan.Tensor> plan, String name, double std) {
        WeightPlan.Init init = plan.get(name).init();
        assertTrue(init instanceof WeightPlan.Normal, name + " is " + init);
        assertEquals(std, ((WeightPlan.Normal) init).std(), 1e-12, name);
    }
}
