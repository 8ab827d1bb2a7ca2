package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChartQaTest {
    private final ChartQa chartqa = new ChartQa();

    @Test
    void reproducesLmmsEvalTaskUtilities() {
        Fixtures.checkTaskUtilsFixture(chartqa);
    }

    @Test
    void reproducesLmmsEvalHarness() {
        Fixtures.checkHarnessFixture(chartqa);
    }

    /** The 5 % bound is inclusive: 47.25 is exactly 5 % above 45 in binary floating point as well. */
    @Test
    void relativeBoundIsInclusive() {
        assertTrue(ChartQa.relaxedCorrectness("47.25", "45", 0.05));
        assertFalse(ChartQa.relaxedCorrectness("47.26", "45", 0.05));
        assertTrue(ChartQa.relaxedCorrectness("42.75", "45", 0.05));
    }

    @Test
    void loadsHubParquetPromptsAndScores(@TempDir Path root) throws Exception {
        List<JsonNode> docs = Fixtures.caseDocs("chartqa");
        List<List<byte[]>> images = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) {
            images.add(List.of(TestParquet.png(i)));
        }
        // lmms-lab/ChartQA: type, question, answer, image.
        var schema = TestParquet.schema("type", TestParquet.STRING, "question", TestParquet.STRING,
                "answer", TestParquet.STRING, "image", TestParquet.IMAGE);
        TestParquet.write(root.resolve("data/test-00000-of-00001.parquet"), schema, docs,
                (i, g) -> TestParquet.image(g, "image", images.get(i).get(0), null));
        Fixtures.checkLoadAndScore(chartqa, root, images);
    }
}
