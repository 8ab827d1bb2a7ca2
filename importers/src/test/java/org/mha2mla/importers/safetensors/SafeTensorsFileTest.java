package org.mha2mla.importers.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import org.mha2mla.fixtures.Fixtures;

/**
 * Reads the transformers-written fixtures and checks every tensor against numpy's decoding of the same bytes
 * (src/test/resources/safetensors/fixture_stats.json, made by make_reference.py there).
 */
class SafeTensorsFileTest {

    /** A file of this module's test resources, or of the shared fixtures for {@code hf/…}. */
    static Path resource(String rel) {
        if (rel.startsWith("hf/")) return Fixtures.file(rel);
        try {
            return Path.of(SafeTensorsFileTest.class.getResource("/" + rel).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("missing test resource " + rel, e);
        }
    }

    @Test
    void everyFixtureTensorMatchesNumpy() throws Exception {
        JsonNode stats = new ObjectMapper().readTree(resource("safetensors/fixture_stats.json").toFile());
        int checked = 0;
        Iterator<Map.Entry<String, JsonNode>> files = stats.fields();
        while (files.hasNext()) {
            Map.Entry<String, JsonNode> file = files.next();
            try (SafeTensorsFile f = SafeTensorsFile.open(resource(file.getKey()))) {
                List<String> expectedNames = new ArrayList<>();
                file.getValue().fieldNames().forEachRemaining(expectedNames::add);
                assertEquals(expectedNames, new ArrayList<>(f.names()), file.getKey() + " names in header order");
                for (String name : expectedNames) {
                    JsonNode e = file.getValue().get(name);
                    TensorInfo info = f.info(name);
                    String where = file.getKey() + ":" + name;
                    assertEquals(e.get("dtype").asText(), info.dtype().name(), where);
                    long[] shape = new long[e.get("shape").size()];
                    for (int i = 0; i < shape.length; i++) shape[i] = e.get("shape").get(i).asLong();
                    assertArrayEquals(shape, info.shape(), where);

                    INDArray a = f.readFloat32(name);
                    assertEquals(DataType.FLOAT, a.dataType(), where);
                    assertArrayEquals(shape, a.shape(), where);
                    float[] v = a.reshape(a.length()).toFloatVector();
                    double sum = 0;
                    for (float x : v) sum += x;
                    double ref = e.get("sum").asDouble();
                    assertEquals(ref, sum, 1e-9 + 1e-9 * Math.abs(ref), where + " sum");
                    for (int i = 0; i < e.get("first").size(); i++) {
                        assertEquals((float) e.get("first").get(i).asDouble(), v[i], 0f, where + " [" + i + "]");
                    }
                    assertEquals((float) e.get("last").asDouble(), v[v.length - 1], 0f, where + " last");
                    checked++;
                }
            }
        }
        assertEquals(90 + 12 + 91 + 13 + 94 + 18 - 3, checked); // header entries minus the three __metadata__
    }

    @Test
    void metadataAndInfoOfTheLlavaFixture() {
        try (SafeTensorsFile f = SafeTensorsFile.open(resource("hf/llava/model.safetensors"))) {
            assertEquals(Map.of("format", "pt"), f.metadata());
            TensorInfo lm = f.info("language_model.lm_head.weight");
            assertEquals(DType.F16, lm.dtype());
            assertEquals(lm.numel() * 2, lm.byteLength());
            assertEquals(0, lm.begin()); // the Python writer starts with the first key in sorted order
            SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> f.info("no.such.key"));
            assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("no.such.key"), e.getMessage());
        }
    }

    @Test
    void integerTensorsOfTheGoldenFile() {
        try (SafeTensorsFile f = SafeTensorsFile.open(resource("hf/llava/golden.safetensors"))) {
            TensorInfo ids = f.info("c0.input_ids");
            assertEquals(DType.I64, ids.dtype());
            long[] l = f.readLongs("c0.input_ids");
            int[] i = f.readInts("c0.input_ids");
            float[] fl = f.readFloat32("c0.input_ids").reshape(ids.numel()).toFloatVector();
            assertEquals(ids.numel(), l.length);
            for (int k = 0; k < l.length; k++) {
                assertEquals(l[k], i[k]);
                assertEquals((float) l[k], fl[k], 0f);
            }
            INDArray asIs = f.readAsIs("c0.input_ids");
            assertEquals(DataType.LONG, asIs.dataType());
            assertArrayEquals(ids.shape(), asIs.shape());
            assertEquals(l[l.length - 1], asIs.reshape(l.length).getLong(l.length - 1));
            assertThrows(SafeTensorsException.class, () -> f.readLongs("c0.logits"));
        }
    }

    @Test
    void multiChunkReadEqualsSingleChunkRead() {
        Path p = resource("hf/llava_next/model.safetensors");
        try (SafeTensorsFile whole = SafeTensorsFile.open(p); SafeTensorsFile chunked = SafeTensorsFile.open(p, 40)) {
            for (String n : whole.names()) assertEquals(whole.readFloat32(n), chunked.readFloat32(n), n);
        }
        Path g = resource("hf/qwen2_5_vl/golden.safetensors");
        try (SafeTensorsFile whole = SafeTensorsFile.open(g); SafeTensorsFile chunked = SafeTensorsFile.open(g, 16)) {
            for (String n : whole.names()) {
                if (whole.info(n).dtype() == DType.I64) assertArrayEquals(whole.readLongs(n), chunked.readLongs(n), n);
                else assertEquals(whole.readFloat32(n), chunked.readFloat32(n), n);
            }
        }
    }

    // ---- corrupt files: every one must fail in open() with a SafeTensorsException naming the file (and tensor) ----

    /** A file from a raw header string (length written correctly) followed by {@code dataBytes} zero bytes. */
    private static Path file(Path dir, String name, String header, int dataBytes) throws Exception {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private static SafeTensorsException corrupt(Path p, String... mustContain) {
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensorsFile.open(p).close());
        assertTrue(e.getMessage().contains(p.getFileName().toString()), e.getMessage());
        for (String m : mustContain) assertTrue(e.getMessage().contains(m), "'" + m + "' not in: " + e.getMessage());
        return e;
    }

    private static Path withLength(Path dir, String name, long headerLength) throws Exception {
        byte[] bytes = Files.readAllBytes(resource("hf/llava/model.safetensors"));
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, headerLength);
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    @Test
    void truncatedFiles(@TempDir Path dir) throws Exception {
        byte[] bytes = Files.readAllBytes(resource("hf/llava/model.safetensors"));
        Path half = dir.resolve("half.safetensors");
        Files.write(half, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        // the first tensor (in header order) whose end lies past the cut is named
        corrupt(half, "tensor '", "past the end of the data section", "truncated");
        Path lastByte = dir.resolve("minus1.safetensors");
        Files.write(lastByte, java.util.Arrays.copyOf(bytes, bytes.length - 1));
        corrupt(lastByte, "vision_tower.pre_layrnorm.weight"); // the tensor stored last
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[]{1, 2, 3, 4, 5});
        corrupt(tiny, "5 bytes");
        Path inHeader = dir.resolve("inheader.safetensors");
        Files.write(inHeader, java.util.Arrays.copyOf(bytes, 500));
        corrupt(inHeader, "header length 10056", "past the end of the file");
    }

    @Test
    void headerLengthOutOfBoundsNeverAllocates(@TempDir Path dir) throws Exception {
        long size = Files.size(resource("hf/llava/model.safetensors"));
        corrupt(withLength(dir, "pasteof.safetensors", size), "header length " + size, "past the end of the file");
        corrupt(withLength(dir, "huge.safetensors", 1L << 62), "header length " + (1L << 62), "out of bounds");
        corrupt(withLength(dir, "negative.safetensors", -1L), "18446744073709551615", "out of bounds");
        corrupt(withLength(dir, "zero.safetensors", 0), "too small");
    }

    @Test
    void headerThatIsNotAJsonObject(@TempDir Path dir) throws Exception {
        corrupt(file(dir, "notjson.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], oops", 4), "not valid JSON");
        corrupt(file(dir, "array.safetensors", "[1, 2, 3]       ", 0), "does not start with '{'");
        corrupt(file(dir, "trailing.safetensors", "{} {\"x\": 1}", 0), "not valid JSON");
        corrupt(file(dir, "dupkey.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                + " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4), "Duplicate field 'w'");
        byte[] bad = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'};
        Path p = dir.resolve("utf8.safetensors");
        Files.write(p, ByteBuffer.allocate(8 + bad.length).order(ByteOrder.LITTLE_ENDIAN).putLong(bad.length).put(bad).array());
        corrupt(p, "UTF-8");
        corrupt(file(dir, "meta.safetensors", "{\"__metadata__\": {\"format\": 1}}", 0), "__metadata__", "'format'", "must be a string");
        corrupt(file(dir, "notobj.safetensors", "{\"w\": 5}", 0), "tensor 'w'", "must be an object");
    }

    @Test
    void badEntries(@TempDir Path dir) throws Exception {
        corrupt(file(dir, "range.safetensors", "{\"a.weight\": {\"dtype\": \"F32\", \"shape\": [250000], \"data_offsets\": [0, 1000000]}}", 16),
                "tensor 'a.weight'", "[0, 1000000]", "past the end of the data section (16 bytes)");
        corrupt(file(dir, "overlap.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 24), "tensor 'b'", "overlaps tensor 'a'");
        corrupt(file(dir, "dtype.safetensors", "{\"q.weight\": {\"dtype\": \"Q4_K\", \"shape\": [4], \"data_offsets\": [0, 4]}}", 4),
                "tensor 'q.weight'", "unknown dtype 'Q4_K'");
        // the message the brief asks for, verbatim in substance
        corrupt(file(dir, "model.safetensors", "{\"language_model.lm_head.weight\": {\"dtype\": \"F16\", \"shape\": [600, 64], \"data_offsets\": [0, 76798]}}", 76800),
                "tensor 'language_model.lm_head.weight' has shape [600, 64] × F16 = 76800 bytes but data_offsets span 76798");
        corrupt(file(dir, "negshape.safetensors", "{\"n\": {\"dtype\": \"F32\", \"shape\": [-1, 4], \"data_offsets\": [0, 16]}}", 16),
                "tensor 'n'", "dimension 0", "non-negative");
        corrupt(file(dir, "fracshape.safetensors", "{\"n\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 10]}}", 16), "tensor 'n'", "shape");
        corrupt(file(dir, "overflow.safetensors", "{\"o\": {\"dtype\": \"F32\", \"shape\": [1099511627776, 1099511627776], \"data_offsets\": [0, 4]}}", 4),
                "tensor 'o'", "overflows");
        corrupt(file(dir, "reversed.safetensors", "{\"r\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 8), "tensor 'r'", "begin > end");
        corrupt(file(dir, "nooffsets.safetensors", "{\"m\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4), "tensor 'm'", "data_offsets");
        corrupt(file(dir, "negoffsets.safetensors", "{\"m\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4), "tensor 'm'", "data_offsets");
    }

    @Test
    void validEdgeCasesStillOpen(@TempDir Path dir) throws Exception {
        // zero-size tensors may share an offset; a gap after the last tensor is tolerated; scalar shape []
        Path p = file(dir, "edge.safetensors", "{\"e1\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": [0, 0]},"
                + " \"e2\": {\"dtype\": \"BF16\", \"shape\": [3, 0], \"data_offsets\": [0, 0]},"
                + " \"s\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]}}", 12);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertEquals(List.of("e1", "e2", "s"), new ArrayList<>(f.names()));
            assertArrayEquals(new long[]{0, 3}, f.readFloat32("e1").shape());
            assertEquals(0, f.readFloat32("s").rank());
            assertEquals(0f, f.readFloat32("s").getFloat(0), 0f);
            assertNotEquals(0, f.dataStart());
        }
    }
}
