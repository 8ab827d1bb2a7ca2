package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class GqaTest {
    private final Gqa gqa = new Gqa();

    @Test
    void reproducesLmmsEvalTaskUtilities() {
        Fixtures.checkTaskUtilsFixture(gqa);
    }

    @Test
    void reproducesLmmsEvalHarness() {
        Fixtures.checkHarnessFixture(gqa);
    }

    @Test
    void harnessStripsBeforeExactMatch() {
        Doc doc = Doc.of(Fixtures.taskUtils("gqa").get("cases").get(3).get("doc"));
        assertEquals(0.0, gqa.processResults(doc, " blue").get("exact_match").doubleValue());
        assertEquals(1.0, gqa.result(doc, " blue").get("exact_match").doubleValue());
    }

    /** Questions and images are separate configs joined on imageId; three questions share two images. */
    @Test
    void loadsHubParquetJoinsImagesPromptsAndScores(@TempDir Path root) throws Exception {
        List<JsonNode> docs = new ArrayList<>();
        List<List<byte[]>> images = new ArrayList<>();
        List<String> distinct = new ArrayList<>();
        for (JsonNode d : Fixtures.caseDocs("gqa")) {
            ObjectNode row = d.deepCopy();
            String q = d.get("question").asText();
            if (!distinct.contains(q)) {
                distinct.add(q);
            }
            int image = distinct.indexOf(q) % 2;
            row.put("id", "q" + docs.size());
            row.put("imageId", "n" + image);
            row.put("fullAnswer", "The answer is " + d.get("answer").asText() + ".");
            docs.add(row);
            images.add(List.of(TestParquet.png(100 + image)));
        }
        // lmms-lab/GQA testdev_balanced_instructions (subset of its columns) and testdev_balanced_images.
        var questions = TestParquet.schema("id", TestParquet.STRING, "imageId", TestParquet.STRING,
                "question", TestParquet.STRING, "answer", TestParquet.STRING, "fullAnswer", TestParquet.STRING);
        TestParquet.write(root.resolve("testdev_balanced_instructions/testdev-00000-of-00001.parquet"), questions, docs, null);
        var imageSchema = TestParquet.schema("id", TestParquet.STRING, "image", TestParquet.IMAGE);
        List<JsonNode> imageRows = List.of(Fixtures.JSON.createObjectNode().put("id", "n0"),
                Fixtures.JSON.createObjectNode().put("id", "n1"));
        TestParquet.write(root.resolve("testdev_balanced_images/testdev-00000-of-00001.parquet"), imageSchema, imageRows,
                (i, g) -> TestParquet.image(g, "image", TestParquet.png(100 + i), null));
        List<Doc> loaded = Fixtures.checkLoadAndScore(gqa, root, images);
        // Questions on one picture share one decoded-bytes array, not a copy per question.
        assertSame(loaded.get(0).images().get(0), loaded.get(1).images().get(0));
    }
}
