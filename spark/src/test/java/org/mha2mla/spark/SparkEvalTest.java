package org.mha2mla.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.cli.Main;
import org.mha2mla.fixtures.Fixtures;

/**
 * {@code eval --spark local[2]} against the single-process {@code eval} on the llava fixture over a small lmms-lab/POPE
 * parquet whose rows carry the fixture's PNG: the same results.json scores, samples and prediction logs (timings
 * aside), and a run that resumes a log generates only the docs it lacks.
 */
class SparkEvalTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final Path FIXTURES = Fixtures.hfRoot();
    static final Path MODEL = FIXTURES.resolve("llava");

    @TempDir
    static Path data;

    /** lmms-lab/POPE's schema (question_id, question, answer, image_source, image{bytes,path}, category), SNAPPY. */
    @BeforeAll
    static void writePope() throws Exception {
        writePope(data, new String[][]{{"1", "Is there a dog in the image?", "yes"}, {"2", "Is there a car in the image?", "no"},
                {"3", "Is there a cat in the image?", "no"}, {"4", "Is there a red square in the image?", "yes"},
                {"5", "Is there a person in the image?", "no"}});
    }

    static void writePope(Path root, String[][] rows) throws Exception {
        MessageType schema = MessageTypeParser.parseMessageType("message schema {\n"
                + "optional binary question_id (STRING); optional binary question (STRING); optional binary answer (STRING);\n"
                + "optional binary image_source (STRING); optional group image { optional binary bytes; optional binary path (STRING); }\n"
                + "optional binary category (STRING); }");
        Path file = root.resolve("pope/data/test-00000-of-00001.parquet");
        Files.createDirectories(file.getParent());
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(new LocalOutputFile(file)).withType(schema)
                .withCompressionCodec(CompressionCodecName.SNAPPY).build()) {
            SimpleGroupFactory f = new SimpleGroupFactory(schema);
            byte[] png = Files.readAllBytes(MODEL.resolve("image0.png"));
            for (String[] r : rows) {
                Group g = f.newGroup().append("question_id", r[0]).append("question", r[1]).append("answer", r[2])
                        .append("image_source", "COCO_" + r[0]).append("category", "random");
                g.addGroup("image").append("bytes", Binary.fromConstantByteArray(png)).append("path", "COCO_" + r[0] + ".jpg");
                w.write(g);
            }
        }
    }

    private static int eval(Path out, int limit, String... extra) {
        List<String> args = new ArrayList<>(List.of("eval", "--model", MODEL.toString(), "--tasks", "pope", "--data-root", data.toString(),
                "--limit", Integer.toString(limit), "--max-new-tokens", "6", "--out", out.toString(), "--no-progress"));
        args.addAll(List.of(extra));
        return Main.run(args.toArray(String[]::new));
    }

    /** The log's config line and its entries without their timings, in file order. */
    static List<JsonNode> logWithoutTimings(Path out) throws Exception {
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("predictions/pope.jsonl"))) {
            ObjectNode n = (ObjectNode) JSON.readTree(l);
            n.remove("seconds");
            lines.add(n);
        }
        return lines;
    }

    @Test
    void sparkRunEqualsTheSingleProcessRunAndResumes(@TempDir Path tmp) throws Exception {
        Path one = tmp.resolve("one");
        Path spark = tmp.resolve("spark");
        assertEquals(0, eval(one, 5));
        assertEquals(0, eval(spark, 5, "--spark", "local[2]", "--partitions", "3"));

        JsonNode a = JSON.readTree(one.resolve("results.json").toFile());
        JsonNode b = JSON.readTree(spark.resolve("results.json").toFile());
        for (String key : List.of("results", "configs", "n-samples", "kv_bytes_per_token", "config")) assertEquals(a.get(key), b.get(key), key);
        assertEquals(5, b.get("n-samples").get("pope").get("effective").intValue());
        assertEquals(JSON.readTree(one.resolve("samples/pope.json").toFile()), JSON.readTree(spark.resolve("samples/pope.json").toFile()));
        List<JsonNode> log = logWithoutTimings(one);
        assertEquals(6, log.size());   // config + 5 docs, in doc order
        assertEquals(log, logWithoutTimings(spark));
        assertTrue(log.get(1).get("input_tokens").intValue() > 16, log.get(1).toString());   // the image's 16 tokens + the text

        // a log of 2 docs written by a single-process run is resumed on Spark: 3 docs generated, the same 5 entries
        Path resumed = tmp.resolve("resumed");
        assertEquals(0, eval(resumed, 2));
        List<String> first = Files.readAllLines(resumed.resolve("predictions/pope.jsonl"));
        assertEquals(0, eval(resumed, 5, "--spark", "local[2]"));
        List<String> after = Files.readAllLines(resumed.resolve("predictions/pope.jsonl"));
        assertEquals(first, after.subList(0, 3));   // the logged docs untouched
        assertEquals(log, logWithoutTimings(resumed));
        // a rerun on Spark generates nothing: the log stays as it is, the scores too
        assertEquals(0, eval(resumed, 5, "--spark", "local[2]"));
        assertEquals(after, Files.readAllLines(resumed.resolve("predictions/pope.jsonl")));
        assertEquals(a.get("results"), JSON.readTree(resumed.resolve("results.json").toFile()).get("results"));
    }
}
