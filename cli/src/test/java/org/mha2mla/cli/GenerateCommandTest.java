package org.mha2mla.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.tokenizer.HfTokenizer;

/** {@code mha2mla generate} on the llava fixture: greedy tokens must be transformers' c0/c1.generated_ids. */
class GenerateCommandTest {
    static final Path LLAVA = MainTest.FIXTURES.resolve("llava");

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
        CliCapture.Result r = CliCapture.run("generate", "--model", LLAVA.toString(), "--image", LLAVA.resolve("image0.png").toString(),
                "--prompt", testCase(0).get("prompt").asText(), "--raw", "--max-new-tokens", "8");
        String s = r.out();
        assertEquals(0, r.rc(), s + r.err());
        String[] lines = s.split("\n", -1);
        assertEquals(goldenText("c0.generated_ids"), s.substring(0, s.lastIndexOf('\n', s.length() - 2)));
        assertTrue(lines[lines.length - 2].matches("47 prompt tokens, 8 new tokens in [0-9.]+ s: vision tower \\+ embedding [0-9.]+ s, "
                + "prefill [0-9.]+ s \\([0-9.]+ tokens/s\\), decode [0-9.]+ s \\([0-9.]+ tokens/s\\)"), s);
    }

    @Test
    void chatTemplatedUserMessageEqualsTheRawCasePrompt() {
        // The fixture template turns the message into case c1's prompt, so the generation is c1's.
        CliCapture.Result r = CliCapture.run("generate", "--model", LLAVA.toString(), "--prompt", "how many shapes are there?", "--max-new-tokens", "8");
        String s = r.out();
        assertEquals(0, r.rc(), s + r.err());
        assertTrue(s.startsWith(goldenText("c1.generated_ids") + "\n26 prompt tokens, 8 new tokens"), s);
    }

    @Test
    void rawPromptWithoutPlaceholderIsAOneLineError() {
        CliCapture.Result r = CliCapture.run("generate", "--model", LLAVA.toString(), "--image", LLAVA.resolve("image0.png").toString(),
                "--prompt", "USER: hi ASSISTANT:", "--raw");
        assertEquals(1, r.rc());
        String e = r.err().strip();
        assertEquals(1, e.lines().count(), e);
        assertTrue(e.startsWith("mha2mla: ") && e.contains("<image>"), e);
    }
}
