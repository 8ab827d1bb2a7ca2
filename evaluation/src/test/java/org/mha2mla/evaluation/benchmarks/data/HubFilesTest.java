package org.mha2mla.evaluation.benchmarks.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HubFilesTest {
    private static final List<String> GLOBS = List.of("data/test-*.parquet", "default/test/*.parquet");

    private static Path touch(Path p) throws IOException {
        Files.createDirectories(p.getParent());
        return Files.writeString(p, "x");
    }

    @Test
    void hubLayoutInShardOrderOtherConfigsIgnored(@TempDir Path root) throws IOException {
        Path s1 = touch(root.resolve("data/test-00001-of-00002.parquet"));
        Path s0 = touch(root.resolve("data/test-00000-of-00002.parquet"));
        touch(root.resolve("data/train-00000-of-00001.parquet"));
        touch(root.resolve("Full/test-00000-of-00001.parquet"));
        touch(root.resolve("README.md"));
        assertEquals(List.of(s0, s1), HubFiles.find(root, GLOBS));
    }

    @Test
    void convertedParquetBranchLayout(@TempDir Path root) throws IOException {
        Path p = touch(root.resolve("default/test/0000.parquet"));
        assertEquals(List.of(p), HubFiles.find(root, GLOBS));
    }

    @Test
    void folderHoldingTheShardsDirectly(@TempDir Path root) throws IOException {
        Path p = touch(root.resolve("test-00000-of-00001.parquet"));
        touch(root.resolve("validation-00000-of-00001.parquet"));
        assertEquals(List.of(p), HubFiles.find(root, GLOBS));
    }

    @Test
    void nothingFoundListsWhatIsThere(@TempDir Path root) throws IOException {
        touch(root.resolve("data/validation-00000-of-00001.parquet"));
        IOException e = assertThrows(IOException.class, () -> HubFiles.find(root, GLOBS));
        assertTrue(e.getMessage().contains("data/validation-00000-of-00001.parquet"), e.getMessage());
        assertThrows(IOException.class, () -> HubFiles.find(root.resolve("absent"), GLOBS));
    }
}
