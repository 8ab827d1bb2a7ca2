package org.mha2mla.evaluation.run;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.evaluation.benchmarks.Ai2d;
import org.mha2mla.evaluation.benchmarks.Benchmark;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.Fixtures;
import org.mha2mla.evaluation.benchmarks.ModelFamily;
import org.mha2mla.evaluation.benchmarks.Pope;
import org.mha2mla.evaluation.benchmarks.TestParquet;
import org.mha2mla.evaluation.scoring.Scoring;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.generation.Budget;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.H2oPruning;
import org.mha2mla.layers.generation.KvQuantization;

/**
 * The whole loop on the llava fixture model over tiny parquet files in the hub schema of lmms-lab/POPE and
 * lmms-lab/ai2d: files written, scores equal to Scoring of the logged predictions, reruns resume.
 */
class EvaluatorTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** 3 layers · (key + value) · 4 heads · 16 dims · 4 bytes */
    private static final long FLOAT32_BYTES_PER_TOKEN = 1536;

    private static VisionLanguageModel model;
    private static ProcessorEncoder encoder;

    @TempDir
    static Path data;

    @BeforeAll
    static void setUp() {
        model = VlmLoader.load(LlavaFixture.dir());
        encoder = LlavaFixture.encoder();
        writePope(data.resolve("POPE"));   // found under its hub repository name
        writeAi2d(data.resolve("ai2d"));
    }

    @AfterAll
    static void tearDown() {
        encoder.close();
    }

    static void writePope(Path root) {
        List<JsonNode> docs = new ArrayList<>();
        for (JsonNode d : Fixtures.caseDocs("pope")) {
            ObjectNode row = d.deepCopy();
            row.put("image_source", "COCO_val2014_" + docs.size());
            row.put("category", "adversarial");
            docs.add(row);
        }
        var schema = TestParquet.schema("question_id", TestParquet.STRING, "question", TestParquet.STRING,
                "answer", TestParquet.STRING, "image_source", TestParquet.STRING, "image", TestParquet.IMAGE,
                "category", TestParquet.STRING);
        TestParquet.write(root.resolve("data/test-00000-of-00001.parquet"), schema, docs,
                (i, g) -> TestParquet.image(g, "image", TestParquet.png(i), "COCO_val2014_" + i + ".jpg"));
    }

    static void writeAi2d(Path root) {
        var schema = TestParquet.schema("question", TestParquet.STRING, "options", TestParquet.STRING_LIST,
                "answer", TestParquet.STRING, "image", TestParquet.IMAGE);
        TestParquet.write(root.resolve("data/test-00000-of-00001.parquet"), schema, Fixtures.caseDocs("ai2d"),
                (i, g) -> TestParquet.image(g, "image", TestParquet.png(i), null));
    }

    /** POPE's 128 (and ai2d's 16) new tokens capped at 8 (lmms-eval's --gen_kwargs max_new_tokens=8) to keep this test short. */
    static final int MAX_NEW_TOKENS = 8;

    private static EvalOptions options(Path out, int limit, CachePolicy policy) {
        return EvalOptions.builder(LlavaFixture.dir(), data, out).limit(limit).maxNewTokens(MAX_NEW_TOKENS).policy(policy).build();
    }

    /** The encoder, counting its requests. */
    private static RequestEncoder counting(AtomicInteger calls) {
        return new RequestEncoder() {
            @Override
            public MultimodalInput encode(String text, List<byte[]> images) {
                calls.incrementAndGet();
                return encoder.encode(text, images);
            }

            @Override
            public String decode(long[] ids) {
                return encoder.decode(ids);
            }
        };
    }

    private static List<ObjectNode> logged(Path out, String task) throws Exception {
        List<String> lines = Files.readAllLines(out.resolve("predictions/" + task + ".jsonl"));
        List<ObjectNode> entries = new ArrayList<>();
        for (String l : lines.subList(1, lines.size())) entries.add((ObjectNode) JSON.readTree(l));
        return entries;
    }

    /** Scoring of the logged predictions against the first docs of the split. */
    private static ObjectNode rescore(Benchmark b, Path out, Path dir) throws Exception {
        List<ObjectNode> log = logged(out, b.name());
        List<Doc> docs = b.load(dir).subList(0, log.size());
        List<String> predictions = log.stream().map(e -> e.get("prediction").asText()).toList();
        return Scoring.score(b, docs, predictions, true);
    }

    @Test
    void runsEndToEndWritesResultsAndResumes(@TempDir Path out) throws Exception {
        AtomicInteger calls = new AtomicInteger();
        List<TaskResult> first = new Evaluator(model, counting(calls), options(out, 3, CachePolicy.FULL)).run(List.of("pope", "ai2d"));
        assertEquals(6, calls.get());
        assertEquals(List.of("pope", "ai2d"), first.stream().map(TaskResult::task).toList());

        // the log holds what the loop generated: re-run doc 0 of POPE by hand through encoder, model and decoder
        Doc doc0 = new Pope().load(data.resolve("POPE")).get(0);
        MultimodalInput in = encoder.encode(new Pope().prompt(doc0, ModelFamily.LLAVA), doc0.images());
        long[] ids = model.generate(in, MAX_NEW_TOKENS, true);
        ObjectNode e0 = logged(out, "pope").get(0);
        assertEquals(encoder.decode(ids), e0.get("raw").asText());
        assertEquals(e0.get("raw").asText(), e0.get("prediction").asText()); // llava_hf applies no stop strings
        assertEquals(in.length(), e0.get("input_tokens").intValue());
        assertEquals(ids.length, e0.get("new_tokens").intValue());
        assertEquals(FLOAT32_BYTES_PER_TOKEN, e0.get("kv_bytes_per_token").doubleValue(), 0);

        // results.json: scores equal Scoring of the logged predictions, lmms-eval's "metric,filter" keys
        JsonNode results = JSON.readTree(out.resolve("results.json").toFile());
        ObjectNode pope = rescore(new Pope(), out, data.resolve("POPE"));
        for (String m : Pope.METRICS) {
            assertEquals(pope.get("aggregate").get(m).doubleValue(), results.get("results").get("pope").get(m + ",none").doubleValue(), 0, m);
        }
        ObjectNode ai2d = rescore(new Ai2d(), out, data.resolve("ai2d"));
        assertEquals(ai2d.get("aggregate").get("exact_match").doubleValue(),
                results.get("results").get("ai2d").get("exact_match,flexible-extract").doubleValue(), 0);
        assertEquals(8, results.get("n-samples").get("pope").get("original").intValue());
        assertEquals(3, results.get("n-samples").get("pope").get("effective").intValue());
        assertEquals(FLOAT32_BYTES_PER_TOKEN, results.get("kv_bytes_per_token").get("pope").get("held").doubleValue(), 0);
        assertEquals(MAX_NEW_TOKENS, results.get("configs").get("ai2d").get("generation_kwargs").get("max_new_tokens").intValue());
        assertEquals("max_new_tokens=8", results.get("config").get("gen_kwargs").asText());
        assertEquals("llava_hf", results.get("config").get("model").asText());
        assertEquals("full", results.get("config").get("cache_policy").asText());
        // samples/<task>.json: Scoring's per-example output
        assertEquals(pope.get("results"), JSON.readTree(out.resolve("samples/pope.json").toFile()).get("results"));
        String table = Files.readString(out.resolve("results.md"));
        assertTrue(table.contains("| ai2d | flexible-extract | 3 | exact_match |"), table);
        assertTrue(table.contains(String.format(java.util.Locale.ROOT, "| pope | none | 3 | pope_accuracy | %.4f | 1536.0 | 100.0%% |",
                pope.get("aggregate").get("pope_accuracy").doubleValue())), table);
        System.out.print(table);

        // rerun: nothing generated again, same results
        calls.set(0);
        List<TaskResult> again = new Evaluator(model, counting(calls), options(out, 3, CachePolicy.FULL)).run(List.of("pope", "ai2d"));
        assertEquals(0, calls.get());
        assertEquals(0, again.get(0).generated());
        assertEquals(first.get(0).aggregate(), again.get(0).aggregate());
        assertEquals(results.get("results"), JSON.readTree(out.resolve("results.json").toFile()).get("results"));

        // a larger limit generates only the new docs
        new Evaluator(model, counting(calls), options(out, 5, CachePolicy.FULL)).run(List.of("pope", "ai2d"));
        assertEquals(4, calls.get());
        assertEquals(5, logged(out, "pope").size());
        assertEquals(rescore(new Pope(), out, data.resolve("POPE")).get("aggregate"),
                JSON.readTree(out.resolve("samples/pope.json").toFile()).get("aggregate"));

        // another cache policy must not resume this log
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Evaluator(model, encoder, options(out, 5, CachePolicy.quantized(KvQuantization.of(4)))).run(List.of("pope")));
        assertTrue(e.getMessage().contains("other settings"), e.getMessage());
    }

    @Test
    void quantizedAndPrunedRunsReportTheBytesActuallyHeld(@TempDir Path out) throws Exception {
        // int4, group 64, no residual window: every token of both tensors of all 3 layers costs 6 · (32 + 4) = 216 bytes
        Path q = out.resolve("int4");
        TaskResult int4 = new Evaluator(model, encoder, options(q, 2, CachePolicy.quantized(new KvQuantization(4, 64, 0))))
                .run(List.of("ai2d")).get(0);
        assertEquals(216.0, int4.kvBytesPerToken(), 1e-9);
        for (ObjectNode e : logged(q, "ai2d")) assertEquals(216L * e.get("kv_tokens_seen").intValue(), e.get("kv_bytes_held").longValue());
        assertEquals("int4-g64-r0", JSON.readTree(q.resolve("results.json").toFile()).get("config").get("cache_policy").asText());

        // H2O at half the prompt: int(0.5 · L) tokens held per layer, float32
        Path h = out.resolve("h2o");
        TaskResult h2o = new Evaluator(model, encoder, options(h, 2, CachePolicy.pruned(new H2oPruning(Budget.fraction(0.5)))))
                .run(List.of("ai2d")).get(0);
        double sum = 0;
        for (ObjectNode e : logged(h, "ai2d")) {
            int held = e.get("input_tokens").intValue() / 2;
            assertEquals(held, e.get("kv_tokens_held").intValue());
            assertEquals(e.get("input_tokens").intValue() + e.get("new_tokens").intValue() - 1, e.get("kv_tokens_seen").intValue());
            assertEquals(held * FLOAT32_BYTES_PER_TOKEN, e.get("kv_bytes_held").longValue());
            sum += (double) held * FLOAT32_BYTES_PER_TOKEN / e.get("kv_tokens_seen").intValue();
        }
        assertEquals(sum / 2, h2o.kvBytesPerToken(), 1e-9);
        assertTrue(h2o.kvBytesPerToken() < FLOAT32_BYTES_PER_TOKEN / 2.0);
        System.out.printf("ai2d (2 docs): float32 %d B/token, int4-g64-r0 %.1f, h2o-0.5 %.1f%n", FLOAT32_BYTES_PER_TOKEN,
                int4.kvBytesPerToken(), h2o.kvBytesPerToken());
    }

    @Test
    void missingDataIsReportedBeforeAnyGeneration(@TempDir Path out) {
        AtomicInteger calls = new AtomicInteger();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Evaluator(model, counting(calls), options(out, 1, CachePolicy.FULL)).run(List.of("ai2d", "chartqa")));
        assertTrue(e.getMessage().contains("chartqa") && e.getMessage().contains("ChartQA"), e.getMessage());
        assertEquals(0, calls.get());
        assertArrayEquals(new String[0], out.toFile().list() == null ? new String[0] : out.toFile().list());
    }
}
