package org.mha2mla.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;
import org.mha2mla.fixtures.Fixtures;

/** The command line end to end on the transformers fixtures (shared with the importers module's tests). */
class MainTest {
    static final Path FIXTURES = Fixtures.hfRoot();

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream oldOut;
    private PrintStream oldErr;

    @BeforeEach
    void capture() {
        oldOut = System.out;
        oldErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restore() {
        System.setOut(oldOut);
        System.setErr(oldErr);
    }

    private String stdout() {
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void parityPassesOnEveryFixture() {
        for (String name : new String[] {"llava", "llava_next", "qwen2_5_vl"}) {
            Path dir = FIXTURES.resolve(name);
            int rc = Main.run("parity", "--model", dir.toString(), "--golden", dir.resolve("golden.safetensors").toString());
            assertEquals(0, rc, name + ":\n" + stdout() + err);
            assertTrue(stdout().contains("parity: PASS"), stdout());
        }
    }

    @Test
    void parityFailsWhenToleranceIsBelowTheRealError() {
        Path dir = FIXTURES.resolve("llava");
        int rc = Main.run("parity", "--model", dir.toString(), "--golden", dir.resolve("golden.safetensors").toString(), "--tol", "1e-12");
        assertEquals(3, rc, stdout());
        assertTrue(stdout().contains("FAIL"), stdout());
    }

    @Test
    void inspectPrintsShapesAndCounts() {
        assertEquals(0, Main.run("inspect", FIXTURES.resolve("qwen2_5_vl").toString()));
        String s = stdout();
        assertTrue(s.contains("4 heads, 2 KV heads (GQA), head dim 16"), s);
        // 2 (K and V) · 2 KV heads · 16 dims · 3 layers = 192 values per token
        assertTrue(s.contains("192 values = 384 bytes at 16-bit"), s);
    }

    private String stderr() {
        return err.toString(StandardCharsets.UTF_8).strip();
    }

    /** A negative or NaN tolerance failed a matching model; an infinite one would pass any. */
    @Test
    void parityToleranceMustBeFiniteAndNonNegative() {
        Path dir = FIXTURES.resolve("llava");
        for (String tol : new String[] {"-1", "NaN", "Infinity"}) {
            err.reset();
            assertEquals(1, Main.run("parity", "--model", dir.toString(), "--golden", dir.resolve("golden.safetensors").toString(), "--tol", tol));
            assertEquals("mha2mla: --tol must be a finite number of at least 0, got " + tol, stderr());
        }
    }

    /** A golden case without input_ids was skipped and the run said PASS; it is an error naming the case. */
    @Test
    void aGoldenCaseMissingItsInputIdsFails(@TempDir Path tmp) {
        Path dir = FIXTURES.resolve("llava");
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        try (SafeTensorsFile golden = SafeTensorsFile.open(dir.resolve("golden.safetensors"))) {
            for (String n : golden.names()) {
                if (!n.startsWith("c0.")) continue;
                INDArray a = golden.info(n).dtype().isFloating() ? golden.readFloat32(n) : Nd4j.createFromArray(golden.readLongs(n));
                tensors.put(n, a);
                if (!n.equals("c0.input_ids")) tensors.put("c1" + n.substring(2), a);
            }
        }
        Path file = tmp.resolve("golden.safetensors");
        SafeTensorsWriter.write(file, tensors, Map.of(), DType.F32);
        assertEquals(1, Main.run("parity", "--model", dir.toString(), "--golden", file.toString()));
        assertTrue(stderr().startsWith("mha2mla: " + file + ": case c1 has no c1.input_ids (it has "), stderr());
        assertFalse(stdout().contains("PASS"), stdout());
    }

    /** The KV cache of 2,000,000,000 new tokens threw OutOfMemoryError at once; the budget is checked first. */
    @Test
    void generationBudgetIsBoundedByTheModelsPositions() {
        assertEquals(1, Main.run("generate", "--model", FIXTURES.resolve("llava").toString(), "--prompt", "hi",
                "--max-new-tokens", "2000000000"));
        assertEquals("mha2mla: --max-new-tokens must be between 1 and 511, got 2000000000", stderr());
        err.reset();
        assertEquals(1, Main.run("generate", "--model", FIXTURES.resolve("llava").toString(), "--prompt", "hi", "--max-new-tokens", "505"));
        assertTrue(stderr().startsWith("mha2mla: --max-new-tokens 505: the prompt (") && stderr().endsWith("tokens) plus the new tokens exceed "
                + "the model's max_position_embeddings (512)"), stderr());
    }

    /** As transformers' load-time warnings: tensors config.json does not use, and decoder tensors missing or of another shape. */
    @Test
    void inspectReportsUnusedMissingAndMisshapedTensors(@TempDir Path tmp) throws Exception {
        Path model = TrainCommandTest.userModel(tmp.resolve("m"));
        String config = Files.readString(model.resolve("config.json"));
        Files.writeString(model.resolve("config.json"), config.replace("\"num_hidden_layers\": 3,\n    \"num_attention_heads\": 4",
                "\"num_hidden_layers\": 2,\n    \"num_attention_heads\": 4"));
        assertEquals(0, Main.run("inspect", model.toString()), stderr());
        assertTrue(stderr().startsWith("mha2mla: warning: " + model.resolve("model.safetensors") + ": 9 tensors are not used by config.json "
                + "(2 decoder layers, 3 vision layers), as transformers' \"Some weights of the model checkpoint were not used\": "
                + "language_model.model.layers.2."), stderr());
        err.reset();
        Files.writeString(model.resolve("config.json"), config.replace("\"intermediate_size\": 160", "\"intermediate_size\": 170")
                .replace("\"num_hidden_layers\": 3,\n    \"num_attention_heads\": 4", "\"num_hidden_layers\": 4,\n    \"num_attention_heads\": 4"));
        assertEquals(0, Main.run("inspect", model.toString()), stderr());
        List<String> lines = stderr().lines().toList();
        assertEquals(2, lines.size(), stderr());
        assertTrue(lines.get(0).endsWith(": 9 decoder tensors are missing: language_model.model.layers.3.input_layernorm.weight, "
                + "language_model.model.layers.3.post_attention_layernorm.weight, language_model.model.layers.3.self_attn.q_proj.weight, …"),
                lines.get(0));
        assertTrue(lines.get(1).contains(": 9 tensors have another shape: language_model.model.layers.0.mlp.gate_proj.weight: [160, 64] "
                + "where config.json implies [170, 64]"), lines.get(1));
    }

    /** The cause of a wrapped failure stays in the line (several eval errors printed only the wrapper's words). */
    @Test
    void oneLineKeepsTheCause() {
        assertEquals("ai2d: cannot read /d (NoSuchFileException: /d/test-0.parquet)",
                Main.oneLine(new java.io.UncheckedIOException("ai2d: cannot read /d", new java.nio.file.NoSuchFileException("/d/test-0.parquet"))));
        assertEquals("x.json: not valid JSON: Unexpected end", Main.oneLine(new RuntimeException(new IllegalStateException(
                "x.json: not valid JSON: Unexpected end", new RuntimeException("Unexpected end")))));
        assertEquals("boom", Main.oneLine(new java.util.concurrent.ExecutionException(new IllegalStateException("boom\n at line 2"
                .substring(0, 4)))));
        assertEquals("a b", Main.oneLine(new IllegalArgumentException("a\n  b")));
    }

    @Test
    void errorsAreOneLineWithoutVerbose() {
        int rc = Main.run("inspect", "/no/such/model");
        assertEquals(1, rc);
        String e = err.toString(StandardCharsets.UTF_8).strip();
        assertEquals(1, e.lines().count(), e);
        assertTrue(e.startsWith("mha2mla: ") && e.contains("config.json"), e);

        err.reset();
        Main.run("inspect", "--verbose", "/no/such/model");
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("\tat "), "stack trace with --verbose");
    }
}
