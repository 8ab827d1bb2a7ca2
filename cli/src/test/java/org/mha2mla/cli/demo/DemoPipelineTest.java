package org.mha2mla.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.evaluation.parity.GoldenParity;
import org.mha2mla.evaluation.synthetic.SyntheticShapesData;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.trainer.pretrain.ScratchModel;

/** Step 1 of the demo end to end on a micro setting (seconds): the files it promises exist and the saved model passes parity. */
class DemoPipelineTest {

    static DemoPipeline.Settings micro() {
        DemoPipeline.Settings full = DemoPipeline.Settings.full();
        ScratchModel.Spec m = full.model();
        ScratchModel.Spec tiny = new ScratchModel.Spec(64, 96, 1, 2, 1, m.mropeSection(), m.ropeTheta(), 32, 48, 1, 1, List.of(0),
                m.windowSize(), m.initializerRange());
        return new DemoPipeline.Settings("micro", new SyntheticShapesData.Sizes(112, 12, 5, 2), tiny, 4, 4, full.peakLr(),
                full.minLr(), full.warmupFraction(), full.beta2(), full.weightDecay(), full.maxGradNorm(), full.maxLength());
    }

    @Test
    void stepOneWritesDataModelLossCurveAndScoresAndTheModelPassesParity(@TempDir Path out) throws Exception {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        DemoPipeline.Evaluation e = new DemoPipeline(out, micro(), 5, new PrintStream(log, true, StandardCharsets.UTF_8)).run();
        String text = log.toString(StandardCharsets.UTF_8);
        for (String f : List.of("data/train.json", "data/calibration.json", "data/test.json", "model/config.json",
                "model/model.safetensors", "model/tokenizer.json", "model/preprocessor_config.json", "model/chat_template.jinja",
                "model/golden.safetensors", "pretrain_loss.csv", "pretrain_loss.png", "eval_original.json")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f + " missing; log:\n" + text);
        }
        assertEquals(5, Files.readAllLines(out.resolve("pretrain_loss.csv")).size());
        assertEquals(10, e.aggregate().get("n").intValue());
        double mean = 0;
        for (String t : List.of("color", "shape", "count", "exist", "position")) mean += e.aggregate().get("accuracy_" + t).doubleValue() / 5;
        assertEquals(e.accuracy(), mean, 1e-12, "equal counts per type: overall = mean of the types");
        assertTrue(text.contains("variant") && text.contains("original"), text);

        try (VisionLanguageModel model = VlmLoader.load(out.resolve("model"));
             SafeTensorsFile golden = SafeTensorsFile.open(out.resolve("model/golden.safetensors"))) {
            for (String c : GoldenParity.caseNames(golden)) {
                GoldenParity.CaseResult r = GoldenParity.run(model, golden, c);
                assertTrue(r.passes(1e-5), c + ": logits differ by " + r.maxAbsLogitDiff() + ", ids equal " + r.idsMatch());
            }
        }
    }

    @Test
    void theTableHasOneRowPerVariantWithEveryQuestionType() {
        com.fasterxml.jackson.databind.node.ObjectNode a = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        a.put("accuracy", 0.9).put("accuracy_color", 1.0).put("accuracy_shape", 0.95).put("accuracy_count", 0.9)
                .put("accuracy_exist", 0.85).put("accuracy_position", 0.8);
        String t = DemoPipeline.table(List.of(new DemoPipeline.Evaluation("original", a, 1.0, 2048)));
        String[] lines = t.split("\n");
        assertEquals(2, lines.length);
        assertTrue(lines[0].contains("color") && lines[0].contains("position"), lines[0]);
        assertTrue(lines[1].matches("original\\s+90\\.0%\\s+100\\.0%\\s+95\\.0%\\s+90\\.0%\\s+85\\.0%\\s+80\\.0%\\s+2048"), lines[1]);
    }
}
