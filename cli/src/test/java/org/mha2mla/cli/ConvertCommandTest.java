package org.mha2mla.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
