package org.mha2mla.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.cli.Main;
import org.mha2mla.evaluation.parity.GoldenParity;
import org.mha2mla.evaluation.synthetic.ShapesGenerator;
import org.mha2mla.evaluation.synthetic.SyntheticShapesData;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.trainer.pretrain.ScratchModel;

/**
 * The whole demo end to end on a micro setting (1 decoder layer, 1 KV head of d_h 32; a few steps of everything):
 * the files it promises exist, the saved model passes parity, and the cache sizes of every row are the closed-form
 * ones for that shape.
 */
class DemoPipelineTest {

    static DemoPipeline.Settings micro() {
        DemoPipeline.Settings full = DemoPipeline.Settings.full();
        ScratchModel.Spec m = full.model();
        ScratchModel.Spec tiny = m.toBuilder().hidden(64).intermediate(96).layers(1).heads(2).kvHeads(1).visionHidden(32).visionIntermediate(48)
                .visionDepth(1).visionHeads(1).fullattBlockIndexes(List.of(0)).build();
        return DemoPipeline.Settings.builder().name("micro").data(new SyntheticShapesData.Sizes(112, 12, 5, 2)).model(tiny)
                .steps(4).batchSize(4).stage1Steps(2).stage2Steps(2).stageBatch(4).baselines(true).budgetSeconds(0).build();
    }

    @Test
    void theDemoWritesEveryVariantAndResultFileWithTheClosedFormCacheSizes(@TempDir Path out) throws Exception {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<DemoPipeline.Evaluation> rows = new DemoPipeline(out, micro(), 5, new PrintStream(log, true, StandardCharsets.UTF_8)).run();
        String text = log.toString(StandardCharsets.UTF_8);
        for (String f : List.of("data/train.json", "data/calibration.json", "data/test.json", "model/config.json",
                "model/model.safetensors", "model/tokenizer.json", "model/preprocessor_config.json", "model/chat_template.jinja",
                "model/golden.safetensors", "pretrain_loss.csv", "pretrain_loss.png", "results.md", "results.json", "accuracy_vs_kv.png",
                "variants/rope-mkl-s1/training/loss_curve.png", "variants/mla-mkl-md-dkv8-s2/training/loss_curve.png",
                "variants/mla-mkl-md-dkv8/conversion_report.json", "eval/original/samples/synthetic_shapes.json")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f + " missing; log:\n" + text);
        }
        assertEquals(5, Files.readAllLines(out.resolve("pretrain_loss.csv")).size());

        // 1 layer × 1 KV head × d_h 32: K+V = 64 floats; MLA: d_r = 8 rotated key dims + d_kv latent dims, and for
        // MD-SVD one float per token recording its modality (which up-projection reads it); int4/int2 in groups of 16
        // (or the whole row when shorter): packed codes (rounded up to a byte) + an fp16 scale and zero point per group.
        Map<String, Double> expected = new LinkedHashMap<>();
        expected.put("original", 256.0);
        expected.put("rope-mkl-s1", 256.0);
        expected.put("mla-dkv16-noft", 4.0 * (8 + 16 + 1));
        expected.put("mla-dkv16", 4.0 * (8 + 16 + 1));
        expected.put("mla-dkv8-noft", 4.0 * (8 + 8 + 1));
        expected.put("mla-dkv8", 4.0 * (8 + 8 + 1));
        expected.put("mla-dkv4-noft", 4.0 * (8 + 4 + 1));
        expected.put("mla-dkv4", 4.0 * (8 + 4 + 1));
        expected.put("ablation-2norm", 4.0 * (8 + 8 + 1));
        expected.put("ablation-svd-llm", 4.0 * (8 + 8));
        expected.put("original-int4", 2 * (16 + 2 * 4.0));
        expected.put("original-int2", 2 * (8 + 2 * 4.0));
        expected.put("mla-dkv8-int4", 2 * (4 + 4.0) + (1 + 4));
        expected.put("mla-dkv8-int2", 2 * (2 + 4.0) + (1 + 4));
        Map<String, DemoPipeline.Evaluation> byName = new LinkedHashMap<>();
        rows.forEach(r -> byName.put(r.variant(), r));
        for (Map.Entry<String, Double> e : expected.entrySet()) {
            assertTrue(byName.containsKey(e.getKey()), e.getKey() + " not evaluated: " + byName.keySet());
            assertEquals(e.getValue(), byName.get(e.getKey()).kvBytesPerToken(), 1e-9, e.getKey());
        }
        for (String pruned : List.of("original-h2o", "original-tova")) {
            double b = byName.get(pruned).kvBytesPerToken();
            assertTrue(b > 0.1 * 256 && b < 0.7 * 256, pruned + " holds " + b + " B/token: half the image prefix of a 256 B/token cache");
        }
        for (DemoPipeline.Evaluation r : rows) {
            assertEquals(10, r.result().aggregate().get("n").intValue(), r.variant());
            double mean = 0;
            for (String t : List.of("color", "shape", "count", "exist", "position")) mean += r.result().aggregate().get("accuracy_" + t).doubleValue() / 5;
            assertEquals(r.accuracy(), mean, 1e-12, "equal counts per type: overall = mean of the types");
        }

        JsonNode json = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(rows.size(), json.get("variants").size());
        assertEquals(4, json.get("pretraining_steps").intValue(), "no budget: the setting's 4 updates");
        assertTrue(Files.readString(out.resolve("results.md")).contains("Pretraining 4 updates × 4 examples"));
        assertEquals(100 * (1 - 68.0 / 256), json.get("variants").get(4).get("kv_reduction_percent").doubleValue(), 1e-9, "mla-dkv8-noft: 68 of 256 B");
        String md = Files.readString(out.resolve("results.md"));
        for (DemoPipeline.Evaluation r : rows) assertTrue(md.contains("| " + r.variant() + " |"), r.variant() + " missing in results.md");
        assertTrue(text.contains("reduction") && text.contains("mla-dkv8"), text);

        try (VisionLanguageModel model = VlmLoader.load(out.resolve("model"));
             SafeTensorsFile golden = SafeTensorsFile.open(out.resolve("model/golden.safetensors"))) {
            for (String c : GoldenParity.caseNames(golden)) {
                GoldenParity.CaseResult r = GoldenParity.run(model, golden, c);
                assertTrue(r.passes(1e-5), c + ": logits differ by " + r.maxAbsLogitDiff() + ", ids equal " + r.idsMatch());
            }
        }

        // The held-out split re-scored by hand, `mha2mla eval --tasks synthetic_shapes --data-root out/data`: the demo's row.
        Path byHand = out.resolve("eval-by-hand");
        assertEquals(0, Main.run("eval", "--model", out.resolve("model").toString(), "--tasks", "synthetic_shapes", "--data-root",
                out.resolve("data").toString(), "--out", byHand.toString(), "--no-progress"));
        JsonNode scored = new ObjectMapper().readTree(byHand.resolve("results.json").toFile()).get("results").get("synthetic_shapes");
        assertEquals(byName.get("original").accuracy(), scored.get("accuracy,none").doubleValue(), 1e-12, scored.toString());
        assertEquals(byName.get("original").accuracy(ShapesGenerator.Type.POSITION), scored.get("accuracy_position,none").doubleValue(),
                1e-12, scored.toString());

        // A second run into the same folder starts over; a folder the demo did not write is refused.
        Path foreign = Files.createDirectories(out.resolve("elsewhere"));
        Files.writeString(foreign.resolve("notes.txt"), "mine");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new DemoPipeline(foreign, micro(), 5, new PrintStream(new ByteArrayOutputStream())).prepareOut());
        assertTrue(e.getMessage().contains("not written by the demo"), e.getMessage());
        assertTrue(Files.isRegularFile(foreign.resolve("notes.txt")));
        new DemoPipeline(out, micro(), 5, new PrintStream(new ByteArrayOutputStream())).prepareOut();
        assertFalse(Files.exists(out.resolve("results.json")));
        assertFalse(Files.exists(out.resolve("variants")));
        // What the user added after the run stays: the hand-made evaluation and the notes.
        assertTrue(Files.isRegularFile(byHand.resolve("results.json")));
        assertEquals("mine", Files.readString(foreign.resolve("notes.txt")));
    }

    /** A rerun removes the files the marker lists and nothing else; a run that stopped early owns only its own entries. */
    @Test
    void aRerunRemovesOnlyTheFilesTheDemoWrote(@TempDir Path out) throws Exception {
        Files.createDirectories(out.resolve("variants/a"));
        Files.writeString(out.resolve("variants/a/model.safetensors"), "demo");
        Files.writeString(out.resolve("variants/a/my-notes.txt"), "user");
        Files.writeString(out.resolve("results.md"), "demo");
        Files.writeString(out.resolve("todo.txt"), "user");
        Files.writeString(out.resolve(DemoPipeline.MARKER), "written by mha2mla demo\nfile: variants/a/model.safetensors\nfile: results.md\n"
                + "file: ../outside.txt\n");
        Files.writeString(out.resolveSibling("outside.txt"), "user");
        new DemoPipeline(out, micro(), 5, new PrintStream(new ByteArrayOutputStream())).prepareOut();
        assertFalse(Files.exists(out.resolve("variants/a/model.safetensors")));
        assertFalse(Files.exists(out.resolve("results.md")));
        assertEquals("user", Files.readString(out.resolve("variants/a/my-notes.txt")));
        assertEquals("user", Files.readString(out.resolve("todo.txt")));
        assertEquals("user", Files.readString(out.resolveSibling("outside.txt")), "a listed path outside the folder is never removed");

        // The marker of a run that stopped early lists no files: the demo's own top-level entries go, the rest stays.
        Files.createDirectories(out.resolve("model"));
        Files.writeString(out.resolve("model/config.json"), "demo");
        new DemoPipeline(out, micro(), 5, new PrintStream(new ByteArrayOutputStream())).prepareOut();
        assertFalse(Files.exists(out.resolve("model")));
        assertFalse(Files.exists(out.resolve("variants")), "a run that stopped early owns its top-level entries whole");
        assertEquals("user", Files.readString(out.resolve("todo.txt")));
    }
}
