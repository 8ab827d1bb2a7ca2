package org.mha2mla.evaluation.benchmarks;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class BenchmarksTest {
    @Test
    void everyTaskAnswersToItsLmmsEvalName() {
        List<String> names = Benchmarks.names();
        assertEquals(List.of("ai2d", "gqa", "pope", "seedbench", "realworldqa", "mmbench_en_dev", "chartqa", "docvqa_val"), names);
        names.forEach(n -> assertEquals(n, Benchmarks.byName(n).name()));
    }

    @Test
    void unknownTaskNamesTheKnownOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Benchmarks.byName("mme"));
        assertEquals(true, e.getMessage().contains("docvqa_val"));
    }
}
