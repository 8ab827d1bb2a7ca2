package org.mha2mla.evaluation.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.evaluation.benchmarks.Benchmarks;

class TaskDataTest {

    @Test
    void findsTheTaskFolderOrTheHubRepositoryFolder(@TempDir Path root) throws Exception {
        Files.createDirectories(root.resolve("pope"));
        Files.createDirectories(root.resolve("ChartQA"));
        Files.createDirectories(root.resolve("SEED-Bench"));
        assertEquals(root.resolve("pope"), TaskData.locate(root, "pope"));
        assertEquals(root.resolve("ChartQA"), TaskData.locate(root, "chartqa"));
        assertEquals(root.resolve("SEED-Bench"), TaskData.locate(root, "seedbench"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TaskData.locate(root, "docvqa_val"));
        assertTrue(e.getMessage().contains("docvqa_val") && e.getMessage().contains("DocVQA") && e.getMessage().contains("lmms-lab/DocVQA"),
                e.getMessage());
    }

    @Test
    void everyBenchmarkHasItsHubDataset() {
        assertEquals(Benchmarks.names().stream().sorted().toList(), TaskData.HUB_DATASETS.keySet().stream().sorted().toList());
    }
}
