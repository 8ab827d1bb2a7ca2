package org.mha2mla.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.tokenizer.HfTokenizer;

/** {@code mha2mla generate} on the llava fixture: greedy tokens must be transformers' c0/c1.generated_ids. */
class GenerateCommandTest {
    static final Path LLAVA = MainTest.FIXTURES.resolve("llava");

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

    private static JsonNode testCase(int i) throws IOException {
        return new ObjectMapper().readTree(Files.readString(LLAVA.resolve("case.json"))).get("cases").get(i);
    }

    /** The golden continuation as the command prints it: decoded without special tokens. */
    private static String goldenText(String key) {
        try (SafeTensorsFile g = SafeTensorsFile.open(LLAVA.resolve("golden.safetensors")); HfTokenizer t = HfTokenizer.load(LLAVA)) {
            return t.decode(g.readLongs(key), true);
        }
    }

    @Test
    void rawCasePromptWithTheImageGeneratesTheGoldenTokens() throws IOException {
        int rc = Main.run("generate", "--model", LLAVA.toString(), "--image", LLAVA.resolve("image0.png").toString(),
                "--prompt", testCase(0).get("prompt").asText(), "--raw", "--max-new-tokens", "8");
        String s = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, s + err);
        String[] lines = s.split("\n", -1);
        assertEquals(goldenText("c0.generated_ids"), s.substring(0, s.lastIndexOf('\n', s.length() - 2)));
        assertTrue(lines[lines.length - 2].matches("47 prompt tokens, 8 new tokens in [0-9.]+ s \\([0-9.]+ tokens/s.*"), s);
    }

    @Test
    void chatTemplatedUserMessageEqualsTheRawCasePrompt() {
        // The fixture template turns the message into case c1's prompt, so the generation is c1's.
        int rc = Main.run("generate", "--model", LLAVA.toString(), "--prompt", "how many shapes are there?", "--max-new-tokens", "8");
        String s = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, s + err);
        assertTrue(s.startsWith(goldenText("c1.generated_ids") + "\n26 prompt tokens, 8 new tokens"), s);
    }

    @Test
    void rawPromptWithoutPlaceholderIsAOneLineError() {
        int rc = Main.run("generate", "--model", LLAVA.toString(), "--image", LLAVA.resolve("image0.png").toString(),
                "--prompt", "USER: hi ASSISTANT:", "--raw");
        assertEquals(1, rc);
        String e = err.toString(StandardCharsets.UTF_8).strip();
        assertEquals(1, e.lines().count(), e);
        assertTrue(e.startsWith("mha2mla: ") && e.contains("<image>"), e);
    }
}
