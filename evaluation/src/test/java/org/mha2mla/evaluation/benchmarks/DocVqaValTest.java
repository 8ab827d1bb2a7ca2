package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DocVqaValTest {
    private final DocVqaVal docvqa = new DocVqaVal();

    @Test
    void reproducesLmmsEvalTaskUtilities() {
        Fixtures.checkTaskUtilsFixture(docvqa);
    }

    @Test
    void reproducesLmmsEvalHarness() {
        Fixtures.checkHarnessFixture(docvqa);
    }

    /** Below the 0.5 threshold lmms-eval stores the Python int 0; it stays an integer in the result. */
    @Test
    void belowThresholdIsIntegerZero() {
        Doc doc = Doc.of(Fixtures.taskUtils("docvqa_val").get("cases").get(10).get("doc"));
        JsonNode anls = docvqa.result(doc, "1250").get("anls");
        assertTrue(anls.isInt());
        assertEquals(0, anls.intValue());
    }

    @Test
    void loadsHubParquetPromptsAndScores(@TempDir Path root) throws Exception {
        List<JsonNode> docs = new ArrayList<>();
        List<List<byte[]>> images = new ArrayList<>();
        for (JsonNode d : Fixtures.caseDocs("docvqa_val")) {
            ObjectNode row = d.deepCopy();
            row.put("questionId", String.valueOf(49153 + docs.size()));
            row.set("question_types", Fixtures.JSON.createArrayNode().add("handwritten").add("form"));
            row.put("docId", 14465L + docs.size() / 4);
            row.put("ucsf_document_id", "pybv0228");
            row.put("ucsf_document_page_no", "81");
            row.put("data_split", "val");
            docs.add(row);
            images.add(List.of(TestParquet.png(docs.size())));
        }
        // lmms-lab/DocVQA config DocVQA: questionId, question, question_types, image, docId,
        // ucsf_document_id, ucsf_document_page_no, answers, data_split. Other splits sit beside it.
        var schema = TestParquet.schema("questionId", TestParquet.STRING, "question", TestParquet.STRING,
                "question_types", TestParquet.STRING_LIST, "image", TestParquet.IMAGE, "docId", TestParquet.INT64,
                "ucsf_document_id", TestParquet.STRING, "ucsf_document_page_no", TestParquet.STRING,
                "answers", TestParquet.STRING_LIST, "data_split", TestParquet.STRING);
        TestParquet.write(root.resolve("DocVQA/validation-00000-of-00001.parquet"), schema, docs,
                (i, g) -> TestParquet.image(g, "image", images.get(i).get(0), null));
        TestParquet.write(root.resolve("DocVQA/test-00000-of-00001.parquet"), schema, docs.subList(0, 2),
                (i, g) -> TestParquet.image(g, "image", images.get(i).get(0), null));
        List<Doc> loaded = Fixtures.checkLoadAndScore(docvqa, root, images);
        assertEquals(14465L, loaded.get(0).fields().get("docId").longValue());
        assertEquals("form", loaded.get(0).texts("question_types").get(1));
    }
}
