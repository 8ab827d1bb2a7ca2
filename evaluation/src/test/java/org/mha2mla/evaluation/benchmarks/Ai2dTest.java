package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class Ai2dTest {
    private final Ai2d ai2d = new Ai2d();

    @Test
    void reproducesLmmsEvalTaskUtilities() {
        Fixtures.checkTaskUtilsFixture(ai2d);
    }

    @Test
    void reproducesLmmsEvalHarness() {
        Fixtures.checkHarnessFixture(ai2d);
    }

    /** The one place fixture and harness differ: lmms-eval strips the filtered response before exact match. */
    @Test
    void harnessStripsBeforeExactMatch() {
        Doc doc = Doc.of(Fixtures.taskUtils("ai2d").get("cases").get(8).get("doc"));
        assertEquals(0.0, ai2d.processResults(doc, "  B  ").get("exact_match").doubleValue());
        assertEquals(1.0, ai2d.result(doc, "  B  ").get("exact_match").doubleValue());
    }

    @Test
    void answerOutOfRangeIsAnError() {
        Doc doc = Doc.of(Fixtures.JSON.createObjectNode().put("question", "q").put("answer", "3")
                .set("options", Fixtures.JSON.createArrayNode().add("x").add("y")));
        assertThrows(IllegalArgumentException.class, () -> ai2d.target(doc));
    }

    @Test
    void loadsHubParquetPromptsAndScores(@TempDir Path root) throws Exception {
        List<JsonNode> docs = Fixtures.caseDocs("ai2d");
        List<List<byte[]>> images = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) {
            images.add(List.of(TestParquet.png(i)));
        }
        // lmms-lab/ai2d: question, options (sequence of string), answer, image; two shards.
        var schema = TestParquet.schema("question", TestParquet.STRING, "options", TestParquet.STRING_LIST,
                "answer", TestParquet.STRING, "image", TestParquet.IMAGE);
        int half = docs.size() / 2;
        TestParquet.write(root.resolve("data/test-00000-of-00002.parquet"), schema, docs.subList(0, half),
                (i, g) -> TestParquet.image(g, "image", images.get(i).get(0), null));
        TestParquet.write(root.resolve("data/test-00001-of-00002.parquet"), schema, docs.subList(half, docs.size()),
                (i, g) -> TestParquet.image(g, "image", images.get(half + i).get(0), null));
        Fixtures.checkLoadAndScore(ai2d, root, images);
    }
}
