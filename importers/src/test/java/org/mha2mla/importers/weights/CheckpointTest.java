package org.mha2mla.importers.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.safetensors.SafeTensorsException;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.Map;

import java.nio.file.Path;
import java.util.ArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import org.mha2mla.fixtures.Fixtures;

class CheckpointTest {

    static Path fixture(String model) {
        return Fixtures.hf(model);
    }

    /**
     * model.safetensors that is a folder, a FIFO (whose open would block until a writer comes) or a link to /dev/zero
     * is named as such (the message was "no model.safetensors … (found model.safetensors)").
     */
    @Test
    void aWeightsFileThatIsNotARegularFileSaysWhatItIs(@TempDir Path tmp) throws Exception {
        Path asFolder = Files.createDirectories(tmp.resolve("a/model.safetensors"));
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(asFolder.getParent()));
        assertEquals(asFolder + " is a folder, not a regular file", e.getMessage());

        Path fifo = Files.createDirectories(tmp.resolve("b")).resolve("model.safetensors");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(fifo.getParent()));
        assertEquals(fifo + " is a FIFO (named pipe), not a regular file", e.getMessage());
        e = assertThrows(SafeTensorsException.class, () -> SafeTensorsFile.open(fifo));
        assertEquals(fifo + " is a FIFO (named pipe), not a regular file", e.getMessage());

        Path zero = Files.createSymbolicLink(Files.createDirectories(tmp.resolve("c")).resolve("model.safetensors"), Path.of("/dev/zero"));
        e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(zero.getParent()));
        assertEquals(zero + " is a character device (a link to /dev/zero), not a regular file", e.getMessage());

        Path broken = Files.createSymbolicLink(Files.createDirectories(tmp.resolve("d")).resolve("model.safetensors"), tmp.resolve("gone"));
        e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(broken.getParent()));
        assertEquals(broken + " is a broken link to " + tmp.resolve("gone") + ", not a regular file", e.getMessage());
    }

    @Test
    void folderWithSingleFileReadsLikeTheFile() {
        Path dir = fixture("qwen2_5_vl");
        try (Checkpoint c = Checkpoint.open(dir); SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("model.safetensors"))) {
            assertEquals(new ArrayList<>(f.names()), new ArrayList<>(c.names()));
            assertEquals(93, c.names().size());
            assertTrue(c.contains("visual.merger.mlp.0.weight"));
            INDArray a = c.get("model.layers.0.self_attn.k_proj.bias");
            assertEquals(f.readFloat32("model.layers.0.self_attn.k_proj.bias"), a);
            assertEquals(f.info("lm_head.weight"), c.info("lm_head.weight"));
            SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> c.get("language_model.lm_head.weight"));
            assertTrue(e.getMessage().contains("language_model.lm_head.weight") && e.getMessage().contains("model.safetensors"), e.getMessage());
        }
    }

    @Test
    void folderWithoutWeightsIsAClearError(@TempDir Path dir) {
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("model.safetensors.index.json"), e.getMessage());
    }

    /** Sharded write of the LLaVA fixture, reopened through the index: same keys, same tensors, clear errors. */
    private static Path shardedLlava(Path dir) {
        Map<String, INDArray> all = new LinkedHashMap<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(fixture("llava").resolve("model.safetensors"))) {
            for (String n : f.names()) all.put(n, f.readFloat32(n));
        }
        return SafeTensorsWriter.writeSharded(dir, all, Map.of("format", "pt"), DType.F16, 120_000);
    }

    @Test
    void shardedCheckpointReadsLikeTheSingleFile(@TempDir Path dir) {
        Path index = shardedLlava(dir);
        try (Checkpoint sharded = Checkpoint.open(dir); Checkpoint single = Checkpoint.open(fixture("llava"))) {
            assertEquals(index, sharded.location());
            assertTrue(sharded.files().size() >= 6, "shards: " + sharded.files().size());
            assertEquals(new java.util.TreeSet<>(single.names()), new java.util.TreeSet<>(sharded.names()));
            for (String n : single.names()) {
                assertEquals(single.get(n), sharded.get(n), n);
                assertEquals(single.info(n).dtype(), sharded.info(n).dtype(), n);
            }
            assertEquals(Map.of("format", "pt"), sharded.metadata());
        }
        try (Checkpoint viaIndexFile = Checkpoint.open(index)) {
            assertEquals(90 - 1, viaIndexFile.names().size());
        }
    }

    @Test
    void missingShardIsNamedWithAKeyItHolds(@TempDir Path dir) throws Exception {
        shardedLlava(dir);
        Path gone = dir.resolve(String.format("model-00002-of-%05d.safetensors", countShards(dir)));
        String someKey;
        try (SafeTensorsFile f = SafeTensorsFile.open(gone)) {
            someKey = f.names().iterator().next();
        }
        Files.delete(gone);
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("model.safetensors.index.json") && e.getMessage().contains(gone.getFileName().toString())
                && e.getMessage().contains(someKey), e.getMessage());
    }

    @Test
    void keyMissingFromItsShardOrBadIndex(@TempDir Path dir) throws Exception {
        shardedLlava(dir);
        Path index = dir.resolve("model.safetensors.index.json");
        String json = Files.readString(index);
        String moved = json.replaceFirst("\"language_model.lm_head.weight\": \"model-00001-of-", "\"language_model.lm_head.weight\": \"model-00002-of-");
        assertTrue(!moved.equals(json), "index layout changed: " + json.substring(0, 200));
        Files.writeString(index, moved);
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("language_model.lm_head.weight") && e.getMessage().contains("model-00002-of-"), e.getMessage());

        Files.writeString(index, "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}");
        e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("not a plain file name") && e.getMessage().contains("'a'"), e.getMessage());

        Files.write(index, "{not json".getBytes(StandardCharsets.UTF_8));
        e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("model.safetensors.index.json"), e.getMessage());

        Files.writeString(index, "{\"metadata\": {}}");
        e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("weight_map"), e.getMessage());
    }

    private static int countShards(Path dir) throws Exception {
        try (java.util.stream.Stream<Path> s = Files.list(dir)) {
            return (int) s.filter(p -> p.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors")).count();
        }
    }

    @Test
    void storedTensorsAreTheMappedBytesAndWidenToWhatGetReturns() {
        for (String type : new String[]{"llava", "llava_next", "qwen2_5_vl"}) {
            try (TensorSource c = KeyLayout.canonical(Checkpoint.open(fixture(type)), type)) {
                for (String name : c.names()) {
                    org.nd4j.linalg.api.ndarray.INDArray expected = c.get(name);
                    try (org.mha2mla.core.tensor.StoredTensor t = c.stored(name)) {
                        org.junit.jupiter.api.Assertions.assertEquals(c.info(name).dtype().name(), t.precision().name(), type + " " + name);
                        org.junit.jupiter.api.Assertions.assertEquals(expected, t.floats().reshape(expected.shape()), type + " " + name);
                    }
                }
            }
        }
    }
}
