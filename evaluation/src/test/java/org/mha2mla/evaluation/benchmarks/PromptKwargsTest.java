package org.mha2mla.evaluation.benchmarks;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PromptKwargsTest {
    /** lmms-eval matches the model name exactly: a qwen_vl entry is not used for qwen2_5_vl. */
    @Test
    void exactModelNameElseDefault() {
        PromptKwargs def = PromptKwargs.of("", "\nAnswer the question using a single word or phrase.");
        PromptKwargs qwenVl = PromptKwargs.of("", " Answer:");
        PromptKwargs own = PromptKwargs.of("Q: ", "");
        assertSame(def, PromptKwargs.resolve(Map.of("default", def, "qwen_vl", qwenVl), ModelFamily.QWEN2_5_VL));
        assertSame(own, PromptKwargs.resolve(Map.of("default", def, "qwen2_5_vl", own), ModelFamily.QWEN2_5_VL));
        assertSame(def, PromptKwargs.resolve(Map.of("default", def, "qwen2_5_vl", own), ModelFamily.LLAVA));
        assertThrows(IllegalStateException.class, () -> PromptKwargs.resolve(Map.of("qwen_vl", qwenVl), ModelFamily.LLAVA));
        assertEquals("llava_hf", ModelFamily.LLAVA.lmmsEvalModel());
    }
}
