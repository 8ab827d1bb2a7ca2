package org.mha2mla.cli.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.data.ParquetRows;
import org.mha2mla.fixtures.Fixtures;

/**
 * A hub-style benchmark parquet file (POPE's schema, SNAPPY, an embedded PNG) with bytes flipped, the footer length
 * or magic damaged, the file cut or extended, read by {@link ParquetRows}. Parquet pages carry no checksum, so a flip
 * inside a value can decode to another value: an accepted file is checked for its structure (the schema's fields,
 * no more rows than written), and a refusal must name the file, never a Java object.
 */
class ParquetFuzzTest {

    @TempDir
    Path tmp;

    @Test
    void damagedParquetIsRefusedNamingTheFileOrReadWithItsSchema() throws Exception {
        Path good = tmp.resolve("good.parquet");
        MessageType schema = MessageTypeParser.parseMessageType("message schema {\n"
                + "optional binary question_id (STRING); optional binary question (STRING); optional binary answer (STRING);\n"
                + "optional group image { optional binary bytes; optional binary path (STRING); }\n"
                + "optional group options (LIST) { repeated group list { optional binary element (STRING); } } }");
        byte[] png = Files.readAllBytes(Fixtures.file("hf/llava/image0.png"));
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(new LocalOutputFile(good)).withType(schema)
                .withCompressionCodec(CompressionCodecName.SNAPPY).build()) {
            SimpleGroupFactory f = new SimpleGroupFactory(schema);
            for (int i = 0; i < 4; i++) {
                Group g = f.newGroup().append("question_id", "q" + i).append("question", "Is there a dog?").append("answer", i % 2 == 0 ? "yes" : "no");
                g.addGroup("image").append("bytes", Binary.fromConstantByteArray(png)).append("path", "p" + i + ".png");
                Group options = g.addGroup("options");
                options.addGroup("list").append("element", "A");
                options.addGroup("list").append("element", "B");
                w.write(g);
            }
        }
        Set<String> fields = new TreeSet<>(List.of("question_id", "question", "answer", "image", "options"));
        byte[] base = Files.readAllBytes(good);
        Path file = tmp.resolve("test-00000-of-00001.parquet");
        Fuzz fuzz = new Fuzz("parquet", line -> line.contains(file.toString()) && !line.contains("LocalInputFile@"));
        Random r = Fuzz.random("parquet");
        int n = Fuzz.cases(600);
        for (int i = 0; i < n; i++) {
            Files.write(file, mutate(base, r));
            boolean images = r.nextBoolean();
            fuzz.check("case " + i, () -> {
                List<Doc> docs = ParquetRows.read(List.of(file), images);
                assertTrue(docs.size() <= 4, docs.size() + " rows");
                for (Doc d : docs) {
                    Set<String> got = new TreeSet<>();
                    d.fields().fieldNames().forEachRemaining(got::add);
                    Set<String> expected = new TreeSet<>(fields);
                    if (!images) expected.remove("image");
                    assertEquals(expected, got);
                }
            }, file);
        }
        fuzz.finish();
    }

    /** Flips anywhere, in the last 64 bytes (footer, its length, the magic), truncation, or appended bytes. */
    static byte[] mutate(byte[] base, Random r) {
        byte[] b = base.clone();
        switch (r.nextInt(5)) {
            case 0 -> {
                for (int k = 1 + r.nextInt(16); k > 0; k--) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
            }
            case 1 -> {
                for (int k = 1 + r.nextInt(4); k > 0; k--) b[b.length - 1 - r.nextInt(Math.min(64, b.length))] ^= (byte) (1 << r.nextInt(8));
            }
            case 2 -> {
                int[] lengths = {0, 1, -1, Integer.MAX_VALUE, b.length, b.length - 8, 12};
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length - 8, lengths[r.nextInt(lengths.length)]);
            }
            case 3 -> b = Arrays.copyOf(b, r.nextInt(b.length));
            default -> {
                List<Byte> tail = new ArrayList<>();
                for (int k = 1 + r.nextInt(32); k > 0; k--) tail.add((byte) r.nextInt(256));
                b = Arrays.copyOf(b, b.length + tail.size());
                for (int k = 0; k < tail.size(); k++) b[base.length + k] = tail.get(k);
            }
        }
        return b;
    }
}
