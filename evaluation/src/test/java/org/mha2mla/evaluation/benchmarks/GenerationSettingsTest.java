package org.mha2mla.evaluation.benchmarks;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GenerationSettingsTest {
    @Test
    void taskBudgetWinsOverWrapperDefault() {
        GenerationSettings g = GenerationSettings.greedy(16, 1.0);
        assertEquals(16, g.maxNewTokens(ModelFamily.LLAVA));
        assertEquals(16, g.maxNewTokens(ModelFamily.QWEN2_5_VL));
        assertTrue(g.greedy());
    }

    /** qwen2_5_vl drops "\n\n" from until (so long answers are not cut) and splits at the rest; llava_hf never cuts. */
    @Test
    void stopStringsPerWrapper() {
        GenerationSettings g = new GenerationSettings(null, 0.0, null, 1, false, List.of("\n\n", "ASSISTANT:", ""));
        assertEquals(List.of("ASSISTANT:"), g.stopStrings(ModelFamily.QWEN2_5_VL));
        assertEquals(List.of(), g.stopStrings(ModelFamily.LLAVA));
        assertEquals("A.\n\nB", g.truncate(ModelFamily.QWEN2_5_VL, "A.\n\nBASSISTANT: x ASSISTANT: y"));
        assertEquals("A.\n\nBASSISTANT: x", g.truncate(ModelFamily.LLAVA, "A.\n\nBASSISTANT: x"));
        assertEquals(1024, g.maxNewTokens(ModelFamily.LLAVA));
        assertEquals(128, g.maxNewTokens(ModelFamily.QWEN2_5_VL));
    }

    @Test
    void everyTaskIsGreedyWithTheYamlBudget() {
        assertEquals(List.of(16, 16, 128, 1024, 16, 1024, 16, 32), Benchmarks.names().stream()
                .map(n -> Benchmarks.byName(n).generation().maxNewTokens(ModelFamily.LLAVA)).toList());
        Benchmarks.names().forEach(n -> assertTrue(Benchmarks.byName(n).generation().greedy(), n));
    }
}
