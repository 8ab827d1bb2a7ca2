package org.mha2mla.evaluation.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.mha2mla.layers.generation.CachePolicy;

class CachePolicyArgsTest {

    @Test
    void parsesQuantizationAndPruning() {
        assertEquals(CachePolicy.FULL, CachePolicyArgs.parse(null, 64, 128, null, null, 0.5));
        assertEquals("int4-g64-r128", CachePolicyArgs.parse("int4", 64, 128, "none", null, 0.5).label());
        assertEquals("int2-g32-r0", CachePolicyArgs.parse("INT2", 32, 0, null, null, 0.5).label());
        assertEquals("h2o-0.5", CachePolicyArgs.parse(null, 64, 128, "h2o", "0.5", 0.5).label());
        assertEquals("tova-64", CachePolicyArgs.parse("none", 64, 128, "tova", "64", 0.5).label());
        assertEquals("h2o-0.25-recent0.25+int4-g64-r128", CachePolicyArgs.parse("int4", 64, 128, "h2o", "0.25", 0.25).label());
    }

    @Test
    void badValuesAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CachePolicyArgs.parse("int3", 64, 128, null, null, 0.5));
        assertTrue(e.getMessage().contains("--kv-quant"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CachePolicyArgs.parse(null, 64, 128, "h2o", null, 0.5));
        assertTrue(e.getMessage().contains("--budget"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CachePolicyArgs.parse(null, 64, 128, "snapkv", "0.5", 0.5));
        assertTrue(e.getMessage().contains("--prune"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CachePolicyArgs.parse(null, 64, 128, null, "0.5", 0.5));
        assertTrue(e.getMessage().contains("--prune"), e.getMessage());
    }
}
