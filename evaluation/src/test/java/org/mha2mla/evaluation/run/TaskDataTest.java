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
    void theDemoDataFolderItselfHoldsSyntheticShapes(@TempDir Path root) throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TaskData.locate(root, "synthetic_shapes"));
        assertTrue(e.getMessage().startsWith("synthetic_shapes: no dataset under"), e.getMessage());
        Files.writeString(root.resolve("test.json"), "[]");
        assertEquals(root, TaskData.locate(root, "synthetic_shapes"));
        Files.createDirectories(root.resolve("synthetic_shapes"));
        assertEquals(root.resolve("synthetic_shapes"), TaskData.locate(root, "synthetic_shapes"), "a folder named after the task first");
        assertThrows(IllegalArgumentException.class, () -> TaskData.locate(root, "pope"), "test.json alone is the demo's layout only");
    }

    @Test
    void everyBenchmarkHasItsHubDataset() {
        assertEquals(Benchmarks.names().stream().sorted().toList(), TaskData.HUB_DATASETS.keySet().stream().sorted().toList());
    }
}
