package org.mha2mla.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mha2mla eval} on the llava fixture over a tiny lmms-lab/POPE parquet whose rows carry the fixture's PNG, so
 * each request goes through the model's own processor with its image.
 */
class EvalCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path MODEL = MainTest.FIXTURES.resolve("llava");

    @TempDir
    static Path data;

    /** lmms-lab/POPE's schema (question_id, question, answer, image_source, image{bytes,path}, category), SNAPPY. */
    @BeforeAll
    static void writePope() throws Exception {
        MessageType schema = MessageTypeParser.parseMessageType("message schema {\n"
                + "optional binary question_id (STRING); optional binary question (STRING); optional binary answer (STRING);\n"
                + "optional binary image_source (STRING); optional group image { optional binary bytes; optional binary path (STRING); }\n"
                + "optional binary category (STRING); }");
        Path file = data.resolve("pope/data/test-00000-of-00001.parquet");
        Files.createDirectories(file.getParent());
        String[][] rows = {{"1", "Is there a dog in the image?", "yes"}, {"2", "Is there a car in the image?", "no"},
                {"3", "Is there a cat in the image?", "no"}};
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(new LocalOutputFile(file)).withType(schema)
                .withCompressionCodec(CompressionCodecName.SNAPPY).build()) {
            SimpleGroupFactory f = new SimpleGroupFactory(schema);
            byte[] png = Files.readAllBytes(MODEL.resolve("image0.png"));
            for (String[] r : rows) {
                Group g = f.newGroup().append("question_id", r[0]).append("question", r[1]).append("answer", r[2])
                        .append("image_source", "COCO_" + r[0]).append("category", "random");
                g.addGroup("image").append("bytes", org.apache.parquet.io.api.Binary.fromConstantByteArray(png))
                        .append("path", "COCO_" + r[0] + ".jpg");
                w.write(g);
            }
        }
    }

    @Test
    void evaluatesWritesResultsAndResumes(@TempDir Path out) throws Exception {
        String[] args = {"eval", "--model", MODEL.toString(), "--tasks", "pope", "--data-root", data.toString(),
                "--limit", "2", "--max-new-tokens", "4", "--out", out.toString(), "--no-progress"};
        CliCapture.Result r = CliCapture.run(args);
        assertEquals(0, r.rc(), r.err());
        assertTrue(r.out().contains("| pope | none | 2 | pope_accuracy |"), r.out());
        JsonNode results = JSON.readTree(out.resolve("results.json").toFile());
        assertEquals(1536.0, results.get("kv_bytes_per_token").get("pope").get("held").doubleValue(), 0);
        assertEquals(2, results.get("n-samples").get("pope").get("effective").intValue());
        assertEquals(3, Files.readAllLines(out.resolve("predictions/pope.jsonl")).size());
        // header + 2 entries; the prompt held the image: 16 image tokens + the text
        JsonNode first = JSON.readTree(Files.readAllLines(out.resolve("predictions/pope.jsonl")).get(1));
        assertTrue(first.get("input_tokens").intValue() > 16, first.toString());
        // rerun: resumes from the log, same scores
        CliCapture.Result again = CliCapture.run(args);
        assertEquals(0, again.rc(), again.err());
        assertEquals(results.get("results"), JSON.readTree(out.resolve("results.json").toFile()).get("results"));
        assertEquals(3, Files.readAllLines(out.resolve("predictions/pope.jsonl")).size());
    }

    @Test
    void quantizedCacheBytesAreReported(@TempDir Path out) throws Exception {
        CliCapture.Result r = CliCapture.run("eval", "--model", MODEL.toString(), "--tasks", "pope", "--data-root", data.toString(),
                "--limit", "1", "--max-new-tokens", "3", "--out", out.toString(), "--no-progress",
                "--kv-quant", "int4", "--kv-group", "64", "--kv-residual", "0");
        assertEquals(0, r.rc(), r.err());
        JsonNode results = JSON.readTree(out.resolve("results.json").toFile());
        // 3 layers · (key + value) · (64 values · 4 bits / 8 + 1 group · 4 bytes) = 216 bytes per token
        assertEquals(216.0, results.get("kv_bytes_per_token").get("pope").get("held").doubleValue(), 0);
        assertEquals(4, results.get("config").get("kv_quantization").get("bits").intValue());
        assertTrue(r.out().contains("| 216.0 | 14.1% |"), r.out());
    }

    /** A file that is not parquet is named by its path (parquet-mr said "LocalInputFile@67207d8a is not a Parquet file"). */
    @Test
    void anUnreadableParquetFileIsNamedByItsPath(@TempDir Path root) throws Exception {
        Path file = root.resolve("pope/data/test-00000-of-00001.parquet");
        Files.createDirectories(file.getParent());
        Files.writeString(file, "this is not parquet, just text long enough to have a footer");
        CliCapture.Result r = CliCapture.run("eval", "--model", MODEL.toString(), "--tasks", "pope", "--data-root", root.toString(),
                "--out", root.resolve("out").toString(), "--no-progress");
        assertEquals(1, r.rc());
        String e = r.err().strip();
        assertEquals(1, e.lines().count(), e);
        assertTrue(e.startsWith("mha2mla: " + file + ": not a readable Parquet file (RuntimeException: the file is not a Parquet file."), e);
        assertFalse(e.contains("LocalInputFile@"), e);
    }

    /** eval's --out follows the output policy: a user's folder is refused and left as it was. */
    @Test
    void aFolderEvalDidNotWriteIsRefused(@TempDir Path out) throws Exception {
        Files.writeString(out.resolve("thesis.tex"), "mine");
        CliCapture.Result r = CliCapture.run("eval", "--model", MODEL.toString(), "--tasks", "pope", "--data-root", data.toString(),
                "--limit", "1", "--out", out.toString(), "--no-progress");
        assertEquals(1, r.rc());
        assertEquals("mha2mla: --out " + out + " is not empty (thesis.tex) and was not written by `mha2mla eval`; choose another --out or "
                + "pass --overwrite to replace it", r.err().strip());
        assertEquals(List.of(out.resolve("thesis.tex")), Files.list(out).toList());
        r = CliCapture.run("eval", "--model", MODEL.toString(), "--tasks", "pope", "--data-root", data.toString(), "--limit", "1",
                "--max-new-tokens", "2", "--out", out.toString(), "--no-progress", "--overwrite");
        assertEquals(0, r.rc(), r.err());
        assertTrue(Files.isRegularFile(out.resolve("results.json")));
        assertFalse(Files.exists(out.resolve("thesis.tex")));
    }

    @Test
    void badOptionsAreOneLineErrors(@TempDir Path out) {
        CliCapture.Result r = CliCapture.run("eval", "--model", MODEL.toString(), "--tasks", "pope", "--data-root", data.toString(),
                "--out", out.toString(), "--prune", "h2o");
        assertEquals(1, r.rc());
        assertEquals("mha2mla: --prune h2o needs --budget (e.g. 0.5 or 64)", r.err().strip());
        r = CliCapture.run("eval", "--model", MODEL.toString(), "--tasks", "gqa", "--data-root", data.toString(), "--out", out.toString());
        assertEquals(1, r.rc());
        assertTrue(r.err().strip().startsWith("mha2mla: gqa: no dataset under"), r.err());
        // the CLI alone (no spark module on its class path) names what --spark needs
        r = CliCapture.run("eval", "--model", MODEL.toString(), "--tasks", "pope", "--data-root", data.toString(), "--out", out.toString(),
                "--spark", "local[2]");
        assertEquals(1, r.rc());
        assertTrue(r.err().strip().startsWith("mha2mla: --spark needs the spark module on the class path"), r.err());
    }
}
