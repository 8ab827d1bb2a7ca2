package org.mha2mla.evaluation.benchmarks.data;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.TestParquet;

import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParquetRowsTest {
    /** The column kinds hub datasets use (GQA's instruction rows have all of them), plus legacy 2-level lists. */
    private static final MessageType SCHEMA = MessageTypeParser.parseMessageType("""
            message schema {
              optional binary id (STRING);
              optional boolean isBalanced;
              optional int32 small;
              optional double score;
              optional binary raw;
              optional group groups { optional binary global (STRING); optional binary local (STRING); }
              optional group entailed (LIST) { repeated group list { optional binary element (STRING); } }
              optional group semantic (LIST) { repeated group list { optional group element {
                  optional binary operation (STRING);
                  optional group dependencies (LIST) { repeated group list { optional int64 element; } } } } }
              optional group legacy (LIST) { repeated int32 array; }
              optional group image { optional binary bytes; optional binary path (STRING); }
            }""");

    private static void writeRows(Path file, CompressionCodecName codec, int rows, long rowGroupSize) throws Exception {
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(new LocalOutputFile(file)).withType(SCHEMA)
                .withCompressionCodec(codec).withRowGroupSize(rowGroupSize).withPageSize(512)
                .withMinRowCountForPageSizeCheck(1).withMaxRowCountForPageSizeCheck(1)
                .withWriteMode(ParquetFileWriter.Mode.OVERWRITE).build()) {
            SimpleGroupFactory f = new SimpleGroupFactory(SCHEMA);
            for (int i = 0; i < rows; i++) {
                Group g = f.newGroup().append("id", "r" + i).append("isBalanced", i % 2 == 0).append("small", -i)
                        .append("score", i / 4.0).append("raw", Binary.fromConstantByteArray(new byte[]{(byte) i, 0, -1}));
                g.addGroup("groups").append("global", "g" + i);
                Group entailed = g.addGroup("entailed");
                entailed.addGroup("list").append("element", "e" + i);
                entailed.addGroup("list");
                Group sem = g.addGroup("semantic").addGroup("list").addGroup("element").append("operation", "select");
                Group deps = sem.addGroup("dependencies");
                deps.addGroup("list").append("element", (long) i);
                deps.addGroup("list").append("element", (long) i + 1);
                g.addGroup("legacy").append("array", 7).append("array", 8);
                TestParquet.image(g, "image", TestParquet.png(i), "img" + i + ".png");
                w.write(g);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = CompressionCodecName.class, names = {"UNCOMPRESSED", "SNAPPY", "ZSTD", "LZ4_RAW"})
    void readsEveryColumnKindAsDatasetsDoes(CompressionCodecName codec, @TempDir Path dir) throws Exception {
        Path file = dir.resolve("rows.parquet");
        writeRows(file, codec, 3, 1 << 20);
        List<Doc> docs = ParquetRows.read(List.of(file), true);
        assertEquals(3, docs.size());
        JsonNode r = docs.get(2).fields();
        assertEquals("r2", r.get("id").asText());
        assertTrue(r.get("isBalanced").asBoolean());
        assertEquals(-2, r.get("small").intValue());
        assertEquals(0.5, r.get("score").doubleValue(), 0.0);
        assertArrayEquals(new byte[]{2, 0, -1}, r.get("raw").binaryValue());
        assertEquals("g2", r.get("groups").get("global").asText());
        assertTrue(r.get("groups").get("local").isNull());
        assertEquals("[\"e2\",null]", r.get("entailed").toString());
        assertEquals("[{\"operation\":\"select\",\"dependencies\":[2,3]}]", r.get("semantic").toString());
        assertEquals("[7,8]", r.get("legacy").toString());
        assertEquals("{\"path\":\"img2.png\",\"image_index\":0}", r.get("image").toString());
        assertArrayEquals(TestParquet.png(2), docs.get(2).images().get(0));
    }

    @Test
    void streamsAcrossRowGroupsAndFiles(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.parquet");
        Path b = dir.resolve("b.parquet");
        writeRows(a, CompressionCodecName.SNAPPY, 40, 2048);
        writeRows(b, CompressionCodecName.SNAPPY, 5, 1 << 20);
        try (ParquetFileReader reader = ParquetFileReader.open(new LocalInputFile(a))) {
            assertTrue(reader.getRowGroups().size() > 1, "test needs several row groups, got " + reader.getRowGroups().size());
        }
        List<Doc> docs = ParquetRows.read(List.of(a, b), true);
        assertEquals(45, docs.size());
        for (int i = 0; i < 45; i++) {
            int row = i < 40 ? i : i - 40;
            assertEquals("r" + row, docs.get(i).fields().get("id").asText());
            assertArrayEquals(TestParquet.png(row), docs.get(i).images().get(0));
        }
    }

    @Test
    void withoutImagesTheImageColumnIsNotRead(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("rows.parquet");
        writeRows(file, CompressionCodecName.SNAPPY, 2, 1 << 20);
        Doc d = ParquetRows.read(List.of(file), false).get(1);
        assertTrue(d.images().isEmpty());
        assertFalse(d.fields().has("image"));
        assertEquals("[{\"operation\":\"select\",\"dependencies\":[1,2]}]", d.fields().get("semantic").toString());
    }

    @Test
    void imageWithoutBytesNamesFileAndRow(@TempDir Path dir) throws Exception {
        MessageType schema = TestParquet.schema("id", TestParquet.STRING, "image", TestParquet.IMAGE);
        Path file = dir.resolve("nobytes.parquet");
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(new LocalOutputFile(file)).withType(schema).build()) {
            Group g = new SimpleGroupFactory(schema).newGroup().append("id", "x");
            g.addGroup("image").append("path", "elsewhere.jpg");
            w.write(g);
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ParquetRows.read(List.of(file), true));
        assertTrue(e.getMessage().contains("nobytes.parquet row 0") && e.getMessage().contains("elsewhere.jpg"), e.getMessage());
    }

    @Test
    void missingFileIsAnError(@TempDir Path dir) {
        assertThrows(UncheckedIOException.class, () -> ParquetRows.read(List.of(dir.resolve("none.parquet")), false));
    }
}
