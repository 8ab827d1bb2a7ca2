package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class RealWorldQaTest {
    private final RealWorldQa rwqa = new RealWorldQa();

    @Test
    void reproducesLmmsEvalTaskUtilities() {
        Fixtures.checkTaskUtilsFixture(rwqa);
    }

    @Test
    void reproducesLmmsEvalHarness() {
        Fixtures.checkHarnessFixture(rwqa);
    }

    /**
     * Expected values from CPython's re on the same strings: an option is "X. " after a non-word character
     * and runs to the end of the line, so "U.S. Army. A. yes" is one option "S"; punctuation is stripped
     * from the response but not from the option text.
     */
    @Test
    void optionLinesFollowPythonRegexSemantics() {
        String q = "Which one?\nA. the U.S. flag\nB. a red flag\nPlease answer.";
        assertEquals("B", RealWorldQa.multiChoice(q, "a red flag!"));
        assertEquals("the US flag", RealWorldQa.multiChoice(q, "the US flag"));
        assertEquals("the US flags", RealWorldQa.multiChoice("Which one?\nA. the U.S. flags\n", "the U.S. flags"));
        assertEquals("Army", RealWorldQa.multiChoice("Note: see U.S. Army. A. yes B. no", "Army"));
        assertEquals("Army A yes B no", RealWorldQa.multiChoice("Note: see U.S. Army. A. yes B. no", "Army. A. yes B. no"));
    }

    @Test
    void numberWordsOnlyForTheWholeResponse() {
        assertEquals("7", RealWorldQa.numberWordsToDigits("SEVEN"));
        assertEquals("seven.", RealWorldQa.numberWordsToDigits("seven."));
        assertEquals(" seven", RealWorldQa.numberWordsToDigits(" seven"));
    }

    @Test
    void loadsHubParquetPromptsAndScores(@TempDir Path root) throws Exception {
        List<JsonNode> docs = Fixtures.caseDocs("realworldqa");
        List<List<byte[]>> images = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) {
            images.add(List.of(TestParquet.png(i)));
        }
        // lmms-lab/RealWorldQA: image, question, answer.
        var schema = TestParquet.schema("image", TestParquet.IMAGE, "question", TestParquet.STRING, "answer", TestParquet.STRING);
        TestParquet.write(root.resolve("data/test-00000-of-00001.parquet"), schema, docs,
                (i, g) -> TestParquet.image(g, "image", images.get(i).get(0), null));
        Fixtures.checkLoadAndScore(rwqa, root, images);
    }
}
