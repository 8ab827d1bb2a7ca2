package org.mha2mla.evaluation.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ModelFamilyTest {

    @Test
    void familyOfEachSupportedModelType() {
        assertEquals(ModelFamily.LLAVA, ModelFamily.forModelType("llava"));
        assertEquals(ModelFamily.LLAVA, ModelFamily.forModelType("llava_next"));
        assertEquals(ModelFamily.QWEN2_5_VL, ModelFamily.forModelType("qwen2_5_vl"));
        assertEquals("llava_hf", ModelFamily.LLAVA.lmmsEvalModel());
        assertThrows(IllegalArgumentException.class, () -> ModelFamily.forModelType("gpt2"));
    }
}
