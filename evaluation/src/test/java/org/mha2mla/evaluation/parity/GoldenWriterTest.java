package org.mha2mla.evaluation.parity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.fixtures.Fixtures;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;

/**
 * A golden file written from the llava fixture's own logits reads back through {@link GoldenParity} as a perfect match,
 * and agrees with the transformers golden of the same inputs (logits ≤ 1e-4, greedy ids equal).
 */
class GoldenWriterTest {

    @TempDir
    Path tmp;

    @Test
    void whatItWritesGoldenParityReadsBack() throws Exception {
        Path dir = Fixtures.hf("llava");
        Path written = tmp.resolve("golden.safetensors");
        try (VisionLanguageModel model = VlmLoader.load(dir);
             SafeTensorsFile reference = SafeTensorsFile.open(dir.resolve("golden.safetensors"))) {
            List<String> cases = GoldenParity.caseNames(reference);
            List<MultimodalInput> inputs = new ArrayList<>();
            for (String c : cases) inputs.add(GoldenParity.input(reference, c));
            int newTokens = reference.readLongs("c0.generated_ids").length;
            GoldenWriter.write(written, inputs, model::logits, model.config().textConfig().eosTokenIds(), newTokens, "test");
            try (SafeTensorsFile golden = SafeTensorsFile.open(written)) {
                assertEquals(cases, GoldenParity.caseNames(golden));
                for (String c : cases) {
                    GoldenParity.CaseResult self = GoldenParity.run(model, golden, c);
                    assertEquals(0.0, self.maxAbsLogitDiff(), 0, c + ": the model against its own golden");
                    assertTrue(self.idsMatch(), c + ": greedy ids with a cache against the writer's without one");
                    assertArrayEquals(reference.readLongs(c + ".input_ids"), golden.readLongs(c + ".input_ids"));
                    double toTransformers = golden.readFloat32(c + ".logits").sub(reference.readFloat32(c + ".logits")).amaxNumber().doubleValue();
                    assertTrue(toTransformers <= 1e-4, c + ": written logits differ from transformers' by " + toTransformers);
                    assertArrayEquals(reference.readLongs(c + ".generated_ids"), golden.readLongs(c + ".generated_ids"), c);
                }
            }
        }
    }
}
