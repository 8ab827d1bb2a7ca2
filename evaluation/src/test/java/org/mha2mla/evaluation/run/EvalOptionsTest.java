package org.mha2mla.evaluation.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.mha2mla.evaluation.benchmarks.ModelFamily;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.KvQuantization;

class EvalOptionsTest {

    @Test
    void defaultsAreTheCommandsAndTheFamilyComesFromConfigJson() {
        EvalOptions o = EvalOptions.builder(LlavaFixture.dir(), Path.of("/data"), Path.of("/out")).build();
        assertSame(ModelFamily.LLAVA, o.family(), "model_type llava is evaluated with lmms-eval's llava_hf");
        assertEquals(0, o.limit());
        assertEquals(0, o.maxNewTokens());
        assertEquals(16, o.maxNewTokens(16), "0: each task's own budget");
        assertSame(CachePolicy.FULL, o.policy());
        assertFalse(o.progress());
        assertEquals(Path.of("/data"), o.dataRoot());
        assertEquals(Path.of("/out"), o.out());
    }

    @Test
    void namedSettingsAreKept() {
        CachePolicy int4 = new CachePolicy(KvQuantization.of(4), null);
        EvalOptions o = EvalOptions.builder(Path.of("/nowhere"), Path.of("/data"), Path.of("/out")).family(ModelFamily.QWEN2_5_VL)
                .limit(50).maxNewTokens(8).policy(int4).progress(true).build();
        assertSame(ModelFamily.QWEN2_5_VL, o.family(), "an explicit family reads no config.json");
        assertEquals(50, o.limit());
        assertEquals(8, o.maxNewTokens(128));
        assertSame(int4, o.policy());
        assertTrue(o.progress());
    }

    @Test
    void aNegativeLimitIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EvalOptions.builder(Path.of("/m"), Path.of("/d"), Path.of("/o")).family(ModelFamily.LLAVA).limit(-1).build());
        assertEquals("--limit must be ≥ 0, got -1", e.getMessage());
    }
}
