package org.mha2mla.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.trainer.data.InstructCalibration;
import org.mha2mla.trainer.data.ModelProcessor;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** {@code mha2mla convert} on the LLaVA fixture with LLaVA-instruct calibration records, then {@code parity} on its output. */
class ConvertCommandTest {

    static final Path LLAVA = MainTest.FIXTURES.resolve("llava");

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream oldOut;
    private PrintStream oldErr;
    private ModelProcessor processor;

    @BeforeEach
    void capture() {
        oldOut = System.out;
        oldErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        processor = ModelProcessor.load(LLAVA);
        err.reset();   // DJL's warnings while loading the tokenizer
    }

    @AfterEach
    void restore() {
        System.setOut(oldOut);
        System.setErr(oldErr);
        processor.close();
    }

    private String stdout() {
        return out.toString(StandardCharsets.UTF_8);
    }

    static Path calibration(Path dir) throws Exception {
        Files.copy(LLAVA.resolve("image0.png"), dir.resolve("image0.png"));
        Files.writeString(dir.resolve("calib.json"), """
                [{"id": "a", "image": "image0.png", "conversations": [
                   {"from": "human", "value": "<image>\\nWhat is the color of the square?"}, {"from": "gpt", "value": "red"}]},
                 {"id": "b", "conversations": [{"from": "human", "value": "Say hello to the world."}, {"from": "gpt", "value": "hello world"}]},
                 {"id": "c", "image": "image0.png", "conversations": [
                   {"from": "human", "value": "<image>\\nDescribe the picture."}, {"from": "gpt", "value": "a red square"}]}]
                """);
        return dir.resolve("calib.json");
    }

    /**
     * The command writes an MLA folder and its report; the folder reloads and passes parity against logits and greedy
     * ids computed in memory (same options, same calibration) before anything was saved.
     */
    @Test
    void convertWritesAModelThatPassesParityAgainstTheInMemoryConversion(@TempDir Path tmp) throws Exception {
        Path calib = calibration(tmp);
        Path golden = tmp.resolve("converted_golden.safetensors");
        try (VisionLanguageModel original = VlmLoader.load(LLAVA)) {
            List<MultimodalInput> samples = new InstructCalibration(calib, null, processor).load(3);
            Mha2MlaConverter.Options o = Mha2MlaConverter.Options.builder(4).step(Mha2MlaConfig.Step.ALL).strategy(RopeStrategy.MKL).ropeDim(4).svd(SvdMethod.MD).build();
            VisionLanguageModel mla = Mha2MlaConverter.convert(original, samples, o).model();
            Map<String, INDArray> cases = new LinkedHashMap<>();
            for (int c = 0; c < 2; c++) {
                MultimodalInput in = samples.get(c);
                cases.put("c" + c + ".input_ids", Nd4j.createFromArray(in.inputIds()));
                if (in.hasImage()) cases.put("c" + c + ".pixel_values", in.pixelValues());
                cases.put("c" + c + ".logits", mla.logits(in));
                cases.put("c" + c + ".generated_ids", Nd4j.createFromArray(mla.generate(in, 5, true)));
            }
            SafeTensorsWriter.write(golden, cases, Map.of(), DType.F32);
        }
        Path model = tmp.resolve("mla");
        int rc = Main.run("convert", "--model", LLAVA.toString(), "--out", model.toString(), "--d-kv", "4", "--rope-dim", "4",
                "--calib", calib.toString(), "--calib-samples", "3", "--dtype", "f32", "--ablations", "--no-progress");
        assertEquals(0, rc, stdout() + err);
        String table = stdout();
        assertTrue(table.contains("split/jnt") && table.contains("3 calibration samples"), table);
        JsonNode report = new ObjectMapper().readTree(model.resolve("conversion_report.json").toFile());
        assertEquals("mkl", report.get("strategy").asText());
        assertEquals(3, report.get("layers").size());
        for (JsonNode l : report.get("layers")) {
            assertTrue(l.get("split_loss").asDouble() <= l.get("joint_loss").asDouble(), l.toString());
            assertTrue(l.get("attention_kl").asDouble() > 0, l.toString());
        }
        Mha2MlaConfig written = HfConfigParser.readConversion(model);
        assertEquals(Mha2MlaConfig.Step.ALL, written.step());
        assertEquals(4, written.dKv());

        out.reset();
        rc = Main.run("parity", "--model", model.toString(), "--golden", golden.toString(), "--tol", "1e-5");
        assertEquals(0, rc, stdout() + err);
        assertTrue(stdout().contains("parity: PASS"), stdout());
    }

    @Test
    void ropeThenSvdInTwoRuns(@TempDir Path tmp) throws Exception {
        Path calib = calibration(tmp);
        Path rope = tmp.resolve("rope");
        assertEquals(0, Main.run("convert", "--model", LLAVA.toString(), "--out", rope.toString(), "--step", "rope", "--strategy", "high",
                "--no-progress"), stdout() + err);
        assertEquals(Mha2MlaConfig.Step.ROPE, HfConfigParser.readConversion(rope).step());
        Path mla = tmp.resolve("mla");
        assertEquals(0, Main.run("convert", "--model", rope.toString(), "--out", mla.toString(), "--step", "svd", "--svd", "svd-llm",
                "--d-kv", "8", "--calib", calib.toString(), "--no-progress"), stdout() + err);
        Mha2MlaConfig c = HfConfigParser.readConversion(mla);
        assertEquals(Mha2MlaConfig.Step.SVD, c.step());
        assertEquals(RopeStrategy.HIGH, c.strategy());
        assertEquals(SvdMethod.SVD_LLM, c.svd());
        try (VisionLanguageModel m = VlmLoader.load(mla)) {
            assertEquals(3L * (4 * 8 + 4 * 4) * 4, m.kvCacheBytesPerToken());   // svd-llm: c_kv + k_rope, no modality tag
        }
        out.reset();
        assertEquals(0, Main.run("inspect", mla.toString()));
        // 3 layers · 4 KV heads · (d_kv 8 + d_r 4) = 144 values against 3 · 2 · 4 · 16 = 384 (MHA: the same)
        assertTrue(stdout().contains("KV cache / token  144 values = 288 bytes at 16-bit (576 at float32)\n"), stdout());
        assertTrue(stdout().contains("KV reduction      -62.50% vs the original cache, -62.50% vs the MHA-equivalent"), stdout());
        assertTrue(stdout().contains("MLA d_kv 8 per KV head, SVD-LLM (--svd svd-llm)"), stdout());
    }

    /** convert into a user's folder is refused and leaves it as it was; --overwrite replaces it only once the new one is done. */
    @Test
    void convertNeverOverwritesAFolderItDidNotCreate(@TempDir Path tmp) throws Exception {
        Path user = TrainCommandTest.userModel(tmp.resolve("user-model"));
        Files.writeString(user.resolve("model-00001-of-00002.safetensors"), "the user's shard");
        Map<String, Integer> before = TrainCommandTest.snapshot(user);
        assertEquals(1, Main.run("convert", "--model", LLAVA.toString(), "--out", user.toString(), "--step", "rope", "--strategy", "high",
                "--no-progress"));
        assertTrue(err.toString(StandardCharsets.UTF_8).strip().endsWith("was not written by `mha2mla convert`; choose another --out or "
                + "pass --overwrite to replace it"), err.toString());
        // A folder of user files without a config.json (the old check looked for config.json only): refused, kept.
        Path notes = Files.createDirectories(tmp.resolve("notes"));
        Files.writeString(notes.resolve("tokenizer.json"), "{}");
        Files.writeString(notes.resolve("model-00001-of-00002.safetensors"), "the user's shard");
        err.reset();
        assertEquals(1, Main.run("convert", "--model", LLAVA.toString(), "--out", notes.toString(), "--step", "rope", "--strategy", "high",
                "--no-progress"));
        assertEquals("mha2mla: --out " + notes + " is not empty (model-00001-of-00002.safetensors, tokenizer.json) and was not written by "
                + "`mha2mla convert`; choose another --out or pass --overwrite to replace it", err.toString(StandardCharsets.UTF_8).strip());
        assertEquals("the user's shard", Files.readString(notes.resolve("model-00001-of-00002.safetensors")));
        assertEquals("{}", Files.readString(notes.resolve("tokenizer.json")));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), user);
        err.reset();
        assertEquals(1, Main.run("convert", "--model", user.toString(), "--out", link.toString(), "--step", "rope", "--strategy", "high",
                "--overwrite", "--no-progress"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("is --model " + user + " (after resolving links"), err.toString());
        // A conversion that fails (no calibration for MKL) leaves the folder and no temporary sibling.
        err.reset();
        assertEquals(1, Main.run("convert", "--model", LLAVA.toString(), "--out", user.toString(), "--step", "rope", "--strategy", "mkl",
                "--overwrite", "--no-progress"));
        assertEquals(before, TrainCommandTest.snapshot(user));
        assertFalse(Files.exists(tmp.resolve(".user-model.mha2mla-partial")));
        // With --overwrite a successful conversion replaces the folder as a whole.
        assertEquals(0, Main.run("convert", "--model", LLAVA.toString(), "--out", user.toString(), "--step", "rope", "--strategy", "high",
                "--overwrite", "--no-progress"), err.toString());
        assertTrue(Files.isRegularFile(user.resolve("conversion_report.json")));
        assertFalse(Files.exists(user.resolve("model-00001-of-00002.safetensors")));
        // convert's own finished output: refused without --overwrite, as before.
        err.reset();
        assertEquals(1, Main.run("convert", "--model", LLAVA.toString(), "--out", user.toString(), "--step", "rope", "--strategy", "high",
                "--no-progress"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("holds the output of an earlier `mha2mla convert`"), err.toString());
    }

    /** A NaN weight is named with its tensor before any calibration (it surfaced as "score of pair 0 is NaN"). */
    @Test
    void nanWeightsNameTheTensor(@TempDir Path tmp) throws Exception {
        Path model = TrainCommandTest.userModel(tmp.resolve("nan-model"));
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        String poisoned = null;
        try (Checkpoint c = Checkpoint.open(model)) {
            for (String n : c.names()) {
                INDArray a = c.info(n).dtype().isFloating() ? c.get(n) : Nd4j.createFromArray(c.getLongs(n));
                if (poisoned == null && n.endsWith("layers.0.self_attn.k_proj.weight")) {
                    a.putScalar(3, Float.NaN);
                    poisoned = n;
                }
                tensors.put(n, a);
            }
        }
        SafeTensorsWriter.write(model.resolve("model.safetensors"), tensors, Map.of("format", "pt"), DType.F32);
        assertEquals(1, Main.run("convert", "--model", model.toString(), "--out", tmp.resolve("o").toString(), "--step", "rope",
                "--strategy", "high", "--no-progress"));
        String e = err.toString(StandardCharsets.UTF_8).strip();
        assertTrue(e.startsWith("mha2mla: " + model + ": weight '") && e.contains("layers.0.self_attn.k_proj.weight' holds 1 NaN and 0 infinite "
                + "values (of 4096); the conversion needs finite weights"), e);
        assertFalse(Files.exists(tmp.resolve("o")));
    }

    /** Calibration samples are capped at --max-length: text is cut (said on stdout), a cut through an image is refused. */
    @Test
    void calibrationSamplesAreCappedAtMaxLength(@TempDir Path tmp) throws Exception {
        Path calib = calibration(tmp);
        assertEquals(0, Main.run("convert", "--model", LLAVA.toString(), "--out", tmp.resolve("a").toString(), "--step", "rope",
                "--calib", calib.toString(), "--max-length", "24", "--no-progress"), err.toString());
        for (int i = 0; i < 3; i++) {
            assertTrue(stdout().matches("(?s).*calibration: sample " + i + " has \\d+ tokens, cut to 24 \\(--max-length 24, max_position_embeddings 512\\).*"),
                    stdout());
        }
        assertEquals(1, Main.run("convert", "--model", LLAVA.toString(), "--out", tmp.resolve("b").toString(), "--step", "rope",
                "--calib", calib.toString(), "--max-length", "8", "--no-progress"));
        String e = err.toString(StandardCharsets.UTF_8).strip();
        // samples are numbered in calibration order (records shuffled by --calib-seed): the first with an image is refused
        int firstImage = InstructCalibration.order(3, InstructCalibration.DEFAULT_SEED)[0] == 1 ? 1 : 0;
        assertTrue(e.startsWith("mha2mla: " + calib + ": calibration sample " + firstImage + " has ") && e.contains("tokens with image tokens past position 8 "
                + "(--max-length 8, max_position_embeddings 512); shorten the record or raise --max-length"), e);
    }

    @Test
    void mistakesAreOneLineErrors(@TempDir Path tmp) throws Exception {
        assertEquals(1, Main.run("convert", "--model", LLAVA.toString(), "--out", tmp.resolve("a").toString(), "--no-progress"));
        assertEquals("mha2mla: --d-kv N is required for --step all", err.toString(StandardCharsets.UTF_8).strip());
        err.reset();
        assertEquals(1, Main.run("convert", "--model", LLAVA.toString(), "--out", tmp.resolve("b").toString(), "--step", "rope",
                "--strategy", "mkl", "--no-progress"));
        assertTrue(err.toString(StandardCharsets.UTF_8).strip().startsWith("mha2mla: mkl scoring needs calibration samples"), err.toString());
        err.reset();
        Path calib = calibration(tmp);
        Files.delete(tmp.resolve("image0.png"));
        assertEquals(1, Main.run("convert", "--model", LLAVA.toString(), "--out", tmp.resolve("c").toString(), "--d-kv", "4",
                "--calib", calib.toString(), "--no-progress"));
        String e = err.toString(StandardCharsets.UTF_8).strip();
        assertEquals(1, e.lines().count(), e);
        assertTrue(e.contains("image0.png"), e);
    }
}
