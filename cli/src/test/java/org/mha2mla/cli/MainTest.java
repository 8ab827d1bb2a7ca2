package org.mha2mla.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The command line end to end on the transformers fixtures (shared with the importers module's tests). */
class MainTest {
    static final Path FIXTURES = Path.of("../importers/src/test/resources/hf");

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
