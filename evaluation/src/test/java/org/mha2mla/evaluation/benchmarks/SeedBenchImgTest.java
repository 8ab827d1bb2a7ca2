package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class SeedBenchImgTest {
    private final SeedBenchImg seed = new SeedBenchImg();

    @Test
    void reproducesLmmsEvalTaskUtilities() {
        Fixtures.checkTaskUtilsFixture(seed);
    }

    @Test
    void reproducesLmmsEvalHarness() {
        Fixtures.checkHarnessFixture(seed);
    }

    /** On image rows only, seed_all is computed over the same items as seed_image. */
    @Test
    void seedAllEqualsSeedImageOnImageRows() {
        List<ObjectNode> results = new ArrayList<>();
        for (JsonNode c : Fixtures.taskUtils("seedbench").get("cases")) {
            results.add(seed.result(Doc.of(c.get("doc")), c.get("prediction").asText()));
        }
        ObjectNode a = seed.aggregate(results);
        assertEquals(a.get("seed_image").doubleValue(), a.get("seed_all").doubleValue(), 0.0);
        assertFalse(a.has("seed_video"));
    }

    @Test
    void untilIsLeftToTheWrapper() {
        GenerationSettings g = seed.generation();
        assertEquals(1024, g.maxNewTokens(ModelFamily.LLAVA));
        assertEquals(128, g.maxNewTokens(ModelFamily.QWEN2_5_VL));
        assertEquals("B", g.truncate(ModelFamily.QWEN2_5_VL, "BASSISTANT: C"));
        assertEquals("BASSISTANT: C", g.truncate(ModelFamily.LLAVA, "BASSISTANT: C"));
    }

    @Test
    void loadsHubParquetPromptsAndScores(@TempDir Path root) throws Exception {
        List<JsonNode> docs = new ArrayList<>();
        List<List<byte[]>> images = new ArrayList<>();
        for (JsonNode d : Fixtures.caseDocs("seedbench")) {
            ObjectNode row = d.deepCopy();
            row.put("data_id", "task" + docs.size() + "/img.jpg");
            row.put("question_type_id", 1L + docs.size() % 9);
            docs.add(row);
            images.add(List.of(TestParquet.png(docs.size())));
        }
        // lmms-lab/SEED-Bench: answer, choice_a..choice_d, data_id, data_type, question, question_id,
        // question_type_id, image (a sequence of images: one for image rows, frames for video rows).
        var schema = TestParquet.schema("answer", TestParquet.STRING, "choice_a", TestParquet.STRING,
                "choice_b", TestParquet.STRING, "choice_c", TestParquet.STRING, "choice_d", TestParquet.STRING,
                "data_id", TestParquet.STRING, "data_type", TestParquet.STRING, "question", TestParquet.STRING,
                "question_id", TestParquet.STRING, "question_type_id", TestParquet.INT64, "image", TestParquet.IMAGE_LIST);
        TestParquet.write(root.resolve("data/test-00000-of-00002.parquet"), schema, docs,
                (i, g) -> TestParquet.imageList(g, "image", images.get(i)));
        ObjectNode video = docs.get(0).deepCopy();
        video.put("data_type", "video");
        video.put("question_id", "v0");
        List<byte[]> frames = List.of(TestParquet.png(50), TestParquet.png(51), TestParquet.png(52));
        TestParquet.write(root.resolve("data/test-00001-of-00002.parquet"), schema, List.of(video),
                (i, g) -> TestParquet.imageList(g, "image", frames));

        Fixtures.checkLoadAndScore(seed, root, images);
        List<Doc> all = new SeedBenchImg(true).load(root);
        assertEquals(docs.size() + 1, all.size());
        Doc v = all.get(docs.size());
        assertEquals(3, v.images().size());
        assertArrayEquals(frames.get(2), v.images().get(2));
        assertEquals(2, v.fields().get("image").get(2).get("image_index").intValue());
    }
}
