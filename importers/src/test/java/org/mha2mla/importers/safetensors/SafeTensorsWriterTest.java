package org.mha2mla.importers.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafeTensorsWriterTest {

    static Map<String, INDArray> readAll(Path file) {
        Map<String, INDArray> m = new LinkedHashMap<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            for (String n : f.names()) m.put(n, f.readFloat32(n));
        }
        return m;
    }

    static int[] bits(INDArray a) {
        float[] v = a.reshape(a.length()).toFloatVector();
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
        return b;
    }

    /** Re-saving a transformers-written F16/BF16 file in the same order reproduces it byte for byte. */
    @Test
    void resavingTheFixturesReproducesThePythonFilesExactly(@TempDir Path tmp) throws Exception {
        for (String[] c : new String[][]{{"llava", "F16"}, {"llava_next", "BF16"}, {"qwen2_5_vl", "BF16"}}) {
            Path src = SafeTensorsFileTest.resource("hf/" + c[0] + "/model.safetensors");
            Map<String, String> meta;
            try (SafeTensorsFile f = SafeTensorsFile.open(src)) {
                meta = f.metadata();
            }
            Path out = tmp.resolve(c[0] + ".safetensors");
            SafeTensorsWriter.write(out, readAll(src), meta, DType.valueOf(c[1]));
            assertArrayEquals(Files.readAllBytes(src), Files.readAllBytes(out), c[0]);
        }
    }

    @Test
    void f32RoundTripIsBitwiseAndHeaderIsPadded(@TempDir Path tmp) throws Exception {
        Map<String, INDArray> in = new LinkedHashMap<>();
        in.put("z.last_in_name_order_first_in_file", Nd4j.rand(DataType.FLOAT, 3, 5, 7).subi(0.5).muli(1e-3));
        in.put("a.weight", Nd4j.randn(DataType.FLOAT, 17, 9));
        in.put("scalar", Nd4j.scalar(3.25f));
        in.put("empty", Nd4j.create(DataType.FLOAT, 0, 4));
        in.put("special", Nd4j.createFromArray(Float.MIN_VALUE, -0f, Float.MAX_VALUE, Float.NEGATIVE_INFINITY, 1e-40f));
        in.put("transposed_view", Nd4j.randn(DataType.FLOAT, 4, 6).transpose()); // f-order view: written in c order
        in.put("ids", Nd4j.createFromArray(1L, -2L, 1L << 40));
        in.put("mask", Nd4j.createFromArray(true, false, true));
        Path out = tmp.resolve("x.safetensors");
        SafeTensorsWriter.write(out, in, Map.of("format", "pt"), DType.F32);

        byte[] bytes = Files.readAllBytes(out);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8);
        try (SafeTensorsFile f = SafeTensorsFile.open(out)) {
            assertEquals(new ArrayList<>(in.keySet()), new ArrayList<>(f.names()));
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertEquals(0, f.info("z.last_in_name_order_first_in_file").begin());
            for (String k : List.of("z.last_in_name_order_first_in_file", "a.weight", "special", "transposed_view")) {
                INDArray back = f.readFloat32(k);
                assertArrayEquals(in.get(k).shape(), back.shape(), k);
                assertArrayEquals(bits(in.get(k)), bits(back), k);
            }
            assertEquals(0, f.readFloat32("scalar").rank());
            assertEquals(3.25f, f.readFloat32("scalar").getFloat(0), 0f);
            assertArrayEquals(new long[]{0, 4}, f.readFloat32("empty").shape());
            assertEquals(DType.I64, f.info("ids").dtype());
            assertArrayEquals(new long[]{1, -2, 1L << 40}, f.readLongs("ids"));
            assertEquals(DType.BOOL, f.info("mask").dtype());
            assertArrayEquals(new long[]{1, 0, 1}, f.readLongs("mask"));
            // no temp file left behind
            try (Stream<Path> s = Files.list(tmp)) {
                assertEquals(List.of("x.safetensors"), s.map(p -> p.getFileName().toString()).toList());
            }
        }
    }

    @Test
    void bf16AndF16RoundTripWithinHalfAnUlp(@TempDir Path tmp) {
        INDArray x = Nd4j.randn(DataType.FLOAT, 64, 33).muli(3);
        for (DType d : new DType[]{DType.BF16, DType.F16}) {
            Path out = tmp.resolve(d + ".safetensors");
            SafeTensorsWriter.write(out, Map.of("w", x), Map.of(), d);
            float[] in = x.reshape(x.length()).toFloatVector();
            float[] back = readAll(out).get("w").reshape(x.length()).toFloatVector();
            double relHalfUlp = d == DType.BF16 ? 0x1p-8 : 0x1p-11; // 8 and 11 significant bits
            int changed = 0;
            for (int i = 0; i < in.length; i++) {
                double tol = Math.max(Math.abs(in[i]) * relHalfUlp, d == DType.F16 ? 0x1p-25 : 0);
                assertTrue(Math.abs(in[i] - back[i]) <= tol, d + " " + in[i] + " -> " + back[i]);
                if (in[i] != back[i]) changed++;
            }
            assertTrue(changed > in.length / 2, "random float32 values should actually be rounded");
            // the stored values are fixed points of the rounding
            Path again = tmp.resolve(d + "_again.safetensors");
            SafeTensorsWriter.write(again, readAll(out), Map.of(), d);
            assertArrayEquals(bits(readAll(out).get("w")), bits(readAll(again).get("w")));
        }
    }

    @Test
    void shardedWriteSplitsLikeHuggingFaceAndCleansUpOldShards(@TempDir Path dir) throws Exception {
        Map<String, INDArray> in = readAll(SafeTensorsFileTest.resource("hf/llava_next/model.safetensors"));
        long total = 0;
        for (INDArray a : in.values()) total += a.length() * 2;
        long max = 150_000;
        Path index = SafeTensorsWriter.writeSharded(dir, in, Map.of("format", "pt"), DType.BF16, max);
        assertEquals(dir.resolve("model.safetensors.index.json"), index);

        JsonNode root = new ObjectMapper().readTree(index.toFile());
        assertEquals(total, root.get("metadata").get("total_size").asLong());
        JsonNode wm = root.get("weight_map");
        assertEquals(in.size(), wm.size());
        List<String> keys = new ArrayList<>();
        wm.fieldNames().forEachRemaining(keys::add);
        List<String> sorted = new ArrayList<>(keys);
        sorted.sort(null);
        assertEquals(sorted, keys);
        int shardCount;
        try (Stream<Path> s = Files.list(dir)) {
            shardCount = (int) s.filter(p -> p.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors")).count();
        }
        assertTrue(shardCount >= (int) Math.ceil(total / (double) max), "shards: " + shardCount);
        String last = String.format("model-%05d-of-%05d.safetensors", shardCount, shardCount);
        assertTrue(Files.exists(dir.resolve(last)));
        for (int i = 1; i <= shardCount; i++) {
            Path shard = dir.resolve(String.format("model-%05d-of-%05d.safetensors", i, shardCount));
            try (SafeTensorsFile f = SafeTensorsFile.open(shard)) {
                long bytes = 0;
                for (String n : f.names()) {
                    bytes += f.info(n).byteLength();
                    assertEquals(shard.getFileName().toString(), wm.get(n).asText(), n);
                    assertArrayEquals(bits(in.get(n)), bits(f.readFloat32(n)), n);
                }
                // a shard exceeds the limit only when it holds a single tensor larger than the limit
                assertTrue(bytes <= max || f.names().size() == 1, shard + " holds " + bytes);
            }
        }

        // re-saving with a large limit leaves exactly one model.safetensors and removes the old shards + index
        Path single = SafeTensorsWriter.writeSharded(dir, in, Map.of("format", "pt"), DType.BF16, 1L << 30);
        assertEquals(dir.resolve("model.safetensors"), single);
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("model.safetensors"), s.map(p -> p.getFileName().toString()).toList());
        }
        assertArrayEquals(Files.readAllBytes(SafeTensorsFileTest.resource("hf/llava_next/model.safetensors")), Files.readAllBytes(single));
    }

    @Test
    void declaredShapeMustMatchTheData(@TempDir Path dir) throws Exception {
        List<SafeTensorsWriter.Entry> e = List.of(new SafeTensorsWriter.Entry("w", DType.F32, new long[]{2, 3},
                () -> Nd4j.zeros(DataType.FLOAT, 3, 2)));
        SafeTensorsException ex = assertThrows(SafeTensorsException.class, () -> SafeTensorsWriter.write(dir.resolve("bad.safetensors"), e, Map.of()));
        assertTrue(ex.getMessage().contains("bad.safetensors") && ex.getMessage().contains("'w'") && ex.getMessage().contains("[3, 2]"), ex.getMessage());
        assertFalse(Files.exists(dir.resolve("bad.safetensors")));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(0, s.count(), "temp file removed after a failure");
        }
        assertThrows(SafeTensorsException.class, () -> SafeTensorsWriter.write(dir.resolve("i.safetensors"),
                Map.of("x", Nd4j.zeros(DataType.FLOAT, 2)), Map.of(), DType.I32));
        assertTrue(Arrays.asList(DType.values()).contains(DType.BF16));
    }

    @Test
    void everyIntegerDtypeAndF64RoundTrip(@TempDir Path dir) {
        Map<String, INDArray> in = new LinkedHashMap<>();
        in.put("i32", Nd4j.createFromArray(new int[][]{{-7, 0, Integer.MAX_VALUE}, {Integer.MIN_VALUE, 5, 6}}));
        in.put("i16", Nd4j.createFromArray(new short[]{-300, 300, Short.MIN_VALUE}));
        in.put("i8", Nd4j.createFromArray(new byte[]{-128, 0, 127}));
        in.put("u8", Nd4j.createFromArray(new byte[]{0, 1, 2}).castTo(DataType.UBYTE).addi(250));
        Path p = dir.resolve("ints.safetensors");
        SafeTensorsWriter.write(p, in, Map.of(), DType.F32);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertEquals(List.of(DType.I32, DType.I16, DType.I8, DType.U8),
                    f.names().stream().map(n -> f.info(n).dtype()).toList());
            assertArrayEquals(new long[]{-7, 0, Integer.MAX_VALUE, Integer.MIN_VALUE, 5, 6}, f.readLongs("i32"));
            assertArrayEquals(new long[]{2, 3}, f.info("i32").shape());
            assertArrayEquals(new long[]{-300, 300, Short.MIN_VALUE}, f.readLongs("i16"));
            assertArrayEquals(new long[]{-128, 0, 127}, f.readLongs("i8"));
            assertArrayEquals(new long[]{250, 251, 252}, f.readLongs("u8"));
            assertEquals(DataType.UBYTE, f.readAsIs("u8").dataType());
            assertEquals(DataType.INT, f.readAsIs("i32").dataType());
            assertEquals(-7f, f.readFloat32("i32").getFloat(0, 0), 0f);
            SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> f.readInts("nope"));
            assertTrue(e.getMessage().contains("ints.safetensors") && e.getMessage().contains("'nope'"), e.getMessage());
        }
        INDArray d = Nd4j.createFromArray(Math.PI, -1e-300, 1e300);
        Path pd = dir.resolve("f64.safetensors");
        SafeTensorsWriter.write(pd, Map.of("d", d), Map.of(), DType.F64);
        try (SafeTensorsFile f = SafeTensorsFile.open(pd)) {
            assertEquals(DType.F64, f.info("d").dtype());
            INDArray back = f.readAsIs("d");
            assertEquals(DataType.DOUBLE, back.dataType());
            assertArrayEquals(d.toDoubleVector(), back.toDoubleVector(), 0.0);
            float[] asF32 = f.readFloat32("d").toFloatVector();
            assertEquals((float) Math.PI, asF32[0], 0f);
            assertEquals(-0f, asF32[1], 0f); // underflows to -0 in float32
            assertEquals(Float.POSITIVE_INFINITY, asF32[2], 0f);
        }
    }

    @Test
    void readAsIsKeepsHalfPrecisionTypesExactly() {
        try (SafeTensorsFile f16 = SafeTensorsFile.open(SafeTensorsFileTest.resource("hf/llava/model.safetensors"));
             SafeTensorsFile bf16 = SafeTensorsFile.open(SafeTensorsFileTest.resource("hf/qwen2_5_vl/model.safetensors"))) {
            INDArray h = f16.readAsIs("language_model.model.norm.weight");
            assertEquals(DataType.HALF, h.dataType());
            assertEquals(f16.readFloat32("language_model.model.norm.weight"), h.castTo(DataType.FLOAT));
            INDArray b = bf16.readAsIs("visual.merger.mlp.0.weight");
            assertEquals(DataType.BFLOAT16, b.dataType());
            assertEquals(bf16.readFloat32("visual.merger.mlp.0.weight"), b.castTo(DataType.FLOAT));
        }
    }

    /** F32 chunks whose element i holds the value i: the file must read back 0, 1, 2, … whatever the thread count. */
    private static ChunkedTensor counting(int chunk) {
        return new ChunkedTensor() {
            @Override
            public int chunkElements() {
                return chunk;
            }

            @Override
            public void encodeChunk(long index, long start, int count, DType dtype, ByteBuffer out) {
                assertEquals(index * chunk, start);
                for (int i = 0; i < count; i++) out.putFloat(start + i);
            }
        };
    }

    @Test
    void chunkedTensorsStreamInOrderWhateverTheThreadCount(@TempDir Path dir) throws Exception {
        INDArray small = Nd4j.createFromArray(new float[]{1.5f, -2f, 3.25f});
        List<SafeTensorsWriter.Entry> entries = List.of(
                SafeTensorsWriter.Entry.chunked("big", DType.F32, new long[]{105, 100}, counting(1000)), // 11 chunks, the last 500
                new SafeTensorsWriter.Entry("small", DType.F32, new long[]{3}, () -> small),
                SafeTensorsWriter.Entry.chunked("empty", DType.F32, new long[]{0, 4}, counting(7)));
        long[] reported = new long[1];
        Path one = dir.resolve("one.safetensors");
        Path four = dir.resolve("four.safetensors");
        SafeTensorsWriter.write(one, entries, Map.of(), SafeTensorsWriter.Options.builder().threads(1).build());
        SafeTensorsWriter.write(four, entries, Map.of(), SafeTensorsWriter.Options.builder().threads(4)
                .bytesWritten(n -> reported[0] += n).build());
        assertArrayEquals(Files.readAllBytes(one), Files.readAllBytes(four));
        assertEquals(105 * 100 * 4 + 3 * 4, reported[0], "every tensor byte is reported once");
        try (SafeTensorsFile f = SafeTensorsFile.open(four)) {
            float[] big = f.readFloat32("big").reshape(10_500).toFloatVector();
            for (int i = 0; i < big.length; i++) assertEquals(i, big[i], 0f, "element " + i);
            assertArrayEquals(small.toFloatVector(), f.readFloat32("small").toFloatVector(), 0f);
            assertArrayEquals(new long[]{0, 4}, f.info("empty").shape());
        }
    }

    @Test
    void aChunkOfTheWrongLengthNamesTheTensor(@TempDir Path dir) {
        ChunkedTensor short1 = new ChunkedTensor() {
            @Override
            public int chunkElements() {
                return 8;
            }

            @Override
            public void encodeChunk(long index, long start, int count, DType dtype, ByteBuffer out) {
                for (int i = 0; i < count - 1; i++) out.putFloat(0f);
            }
        };
        for (int threads : new int[]{1, 2}) {
            Path file = dir.resolve("bad" + threads + ".safetensors");
            SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensorsWriter.write(file,
                    List.of(SafeTensorsWriter.Entry.chunked("w", DType.F32, new long[]{20}, short1)), Map.of(),
                    SafeTensorsWriter.Options.builder().threads(threads).build()));
            assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("chunk 0"), e.getMessage());
            assertFalse(Files.exists(file), "no file under the real name after a failed write");
        }
    }

    /**
     * huggingface_hub's split_state_dict_into_shards_factory with sizes [40, 200, 40, 40, 60] and a 100-byte limit: the
     * 200-byte tensor is appended as a shard of its own while [a, b] stays open; c would overflow [a, b]; d fills c's shard
     * to exactly the limit.
     */
    @Test
    void anOversizedTensorGetsItsOwnShardAsHuggingFaceHubCutsThem(@TempDir Path dir) throws Exception {
        Map<String, INDArray> in = new LinkedHashMap<>();
        in.put("z.a", Nd4j.ones(DataType.FLOAT, 10));   // 40 bytes
        in.put("y.big", Nd4j.ones(DataType.FLOAT, 50)); // 200 bytes > limit
        in.put("x.b", Nd4j.ones(DataType.FLOAT, 10));   // 40: [a, b] = 80
        in.put("w.c", Nd4j.ones(DataType.FLOAT, 10));   // 80 + 40 > 100: closes [a, b]
        in.put("v.d", Nd4j.ones(DataType.FLOAT, 15));   // 40 + 60 = 100: fits beside c
        Path index = SafeTensorsWriter.writeSharded(dir, SafeTensorsWriter.entries(in, DType.F32), Map.of("format", "pt"), 100,
                SafeTensorsWriter.Options.builder().sortedByName(true).build());
        JsonNode wm = new ObjectMapper().readTree(index.toFile()).get("weight_map");
        assertEquals("model-00001-of-00003.safetensors", wm.get("y.big").asText());
        assertEquals("model-00002-of-00003.safetensors", wm.get("z.a").asText());
        assertEquals("model-00002-of-00003.safetensors", wm.get("x.b").asText());
        assertEquals("model-00003-of-00003.safetensors", wm.get("w.c").asText());
        assertEquals("model-00003-of-00003.safetensors", wm.get("v.d").asText());
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("model-00002-of-00003.safetensors"))) {
            assertEquals(List.of("x.b", "z.a"), List.copyOf(f.names()), "each file's tensors in name order");
            assertEquals(0, f.info("x.b").begin());
        }
    }
}
