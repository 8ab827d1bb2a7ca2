package org.mha2mla.evaluation.benchmarks;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchmarksTest {
    @Test
    void everyTaskAnswersToItsLmmsEvalName() {
        List<String> names = Benchmarks.names();
        assertEquals(List.of("ai2d", "gqa", "pope", "seedbench", "realworldqa", "mmbench_en_dev", "chartqa", "docvqa_val"), names);
        names.forEach(n -> assertEquals(n, Benchmarks.byName(n).name()));
    }

    @Test
    void theDemoTaskIsFoundButInNoTable() {
        assertEquals("synthetic_shapes", Benchmarks.byName("synthetic_shapes").name());
        assertFalse(Benchmarks.names().contains("synthetic_shapes"));
    }

    @Test
    void unknownTaskNamesTheKnownOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Benchmarks.byName("mme"));
        assertTrue(e.getMessage().contains("docvqa_val") && e.getMessage().contains("synthetic_shapes"), e.getMessage());
    }
}
