package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PopeTest {
    private final Pope pope = new Pope();

    @Test
    void reproducesLmmsEvalTaskUtilities() {
        Fixtures.checkTaskUtilsFixture(pope);
    }

    @Test
    void reproducesLmmsEvalHarness() {
        Fixtures.checkHarnessFixture(pope);
    }

    /** Precision/recall/F1 against counts done by hand on the harness cases' predictions. */
    @Test
    void f1IsHarmonicMeanOfPrecisionAndRecall() {
        JsonNode cases = Fixtures.harness("pope").get("cases");
        List<ObjectNode> results = new ArrayList<>();
        int tp = 0;
        int fp = 0;
        int fn = 0;
        for (JsonNode c : cases) {
            ObjectNode r = pope.result(Doc.of(c.get("doc")), c.get("prediction").asText());
            results.add(r);
            String pred = r.get("pope_f1_score").get("prediction").asText();
            String gt = r.get("pope_f1_score").get("ground_truth").asText();
            tp += pred.equals("yes") && gt.equals("yes") ? 1 : 0;
            fp += pred.equals("yes") && gt.equals("no") ? 1 : 0;
            fn += pred.equals("no") && gt.equals("yes") ? 1 : 0;
        }
        ObjectNode a = pope.aggregate(results);
        double p = (double) tp / (tp + fp);
        double r = (double) tp / (tp + fn);
        assertEquals(p, a.get("pope_precision").doubleValue(), 1e-15);
        assertEquals(r, a.get("pope_recall").doubleValue(), 1e-15);
        assertEquals(2 * p * r / (p + r), a.get("pope_f1_score").doubleValue(), 1e-15);
    }

    @Test
    void groundTruthMustBeYesOrNo() {
        Doc doc = Doc.of(Fixtures.JSON.createObjectNode().put("question_id", "1").put("question", "q").put("answer", "maybe"));
        assertThrows(IllegalArgumentException.class, () -> pope.result(doc, "yes"));
    }

    @Test
    void loadsHubParquetPromptsAndScores(@TempDir Path root) throws Exception {
        List<JsonNode> docs = new ArrayList<>();
        List<List<byte[]>> images = new ArrayList<>();
        for (JsonNode d : Fixtures.caseDocs("pope")) {
            ObjectNode row = d.deepCopy();
            row.put("image_source", "COCO_val2014_" + docs.size());
            row.put("category", docs.size() % 3 == 0 ? "adversarial" : docs.size() % 3 == 1 ? "popular" : "random");
            docs.add(row);
            images.add(List.of(TestParquet.png(docs.size())));
        }
        // lmms-lab/POPE default config: question_id, question, answer, image_source, image, category.
        var schema = TestParquet.schema("question_id", TestParquet.STRING, "question", TestParquet.STRING,
                "answer", TestParquet.STRING, "image_source", TestParquet.STRING, "image", TestParquet.IMAGE,
                "category", TestParquet.STRING);
        TestParquet.write(root.resolve("data/test-00000-of-00001.parquet"), schema, docs,
                (i, g) -> TestParquet.image(g, "image", images.get(i).get(0), "COCO_val2014_" + i + ".jpg"));
        // The Full config's files must not be picked up as the default split.
        TestParquet.write(root.resolve("Full/adversarial-00000-of-00001.parquet"), schema, docs.subList(0, 1),
                (i, g) -> TestParquet.image(g, "image", images.get(0).get(0), null));
        List<Doc> loaded = Fixtures.checkLoadAndScore(pope, root, images);
        assertEquals("COCO_val2014_2.jpg", loaded.get(2).fields().get("image").get("path").asText());
    }
}
