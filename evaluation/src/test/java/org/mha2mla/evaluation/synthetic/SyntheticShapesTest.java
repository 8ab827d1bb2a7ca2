package org.mha2mla.evaluation.synthetic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.ModelFamily;
import org.mha2mla.evaluation.scoring.Scoring;

class SyntheticShapesTest {

    final SyntheticShapes benchmark = new SyntheticShapes();

    @Test
    void normalisationMakesFormattingIrrelevantButNotTheAnswer() {
        assertEquals("red", SyntheticShapes.normalize("  Red. "));
        assertEquals("2", SyntheticShapes.normalize("two"));
        assertEquals("square", SyntheticShapes.normalize("a square!"));
        assertEquals("yes", SyntheticShapes.normalize("YES"));
        assertEquals("red circle", SyntheticShapes.normalize("red   circle"));
    }

    @Test
    void loadsTheHeldOutSplitAndScoresExactMatchPerType(@TempDir Path dir) throws Exception {
        SyntheticShapesData.write(dir, new SyntheticShapesData.Sizes(112, 2, 0, 4), 11);
        List<Doc> docs = benchmark.load(dir);
        assertEquals(20, docs.size());
        Doc first = docs.get(0);
        assertEquals("color", first.text("question_type"));
        assertEquals(first.text("question"), benchmark.prompt(first, ModelFamily.QWEN2_5_VL));
        assertEquals(false, first.text("question").contains("<image>"));
        assertEquals(1, first.images().size());

        // Right answers (formatted differently) everywhere except: 1 colour, 2 counts, all 4 positions wrong.
        List<String> predictions = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) {
            Doc d = docs.get(i);
            String type = d.text("question_type");
            String right = d.text("answer");
            boolean wrong = (type.equals("color") && i % 4 == 0) || (type.equals("count") && i % 4 < 2) || type.equals("position");
            predictions.add(wrong ? "banana" : " " + right.toUpperCase() + ".");
        }
        ObjectNode scored = Scoring.score(benchmark, docs, predictions, true);
        ObjectNode a = (ObjectNode) scored.get("aggregate");
        assertEquals(13.0 / 20, a.get("accuracy").doubleValue(), 1e-12);
        assertEquals(0.75, a.get("accuracy_color").doubleValue(), 1e-12);
        assertEquals(1.0, a.get("accuracy_shape").doubleValue(), 1e-12);
        assertEquals(0.5, a.get("accuracy_count").doubleValue(), 1e-12);
        assertEquals(1.0, a.get("accuracy_exist").doubleValue(), 1e-12);
        assertEquals(0.0, a.get("accuracy_position").doubleValue(), 1e-12);
        assertEquals(20, a.get("n").intValue());
        assertEquals("banana", scored.get("results").get(0).get("result").get("accuracy").get("prediction").asText());
    }

    @Test
    void aMissingSplitIsAClearError(@TempDir Path dir) {
        Exception e = assertThrows(java.io.IOException.class, () -> benchmark.load(dir));
        assertEquals(true, e.getMessage().contains("test.json"), e.getMessage());
    }
}
