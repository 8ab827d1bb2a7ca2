package org.mha2mla.importers.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.HfFixtures;
import org.mha2mla.importers.safetensors.SafeTensorsFile;

/** The fixtures' tokenizers against transformers' input_ids and decoded generations. */
class HfTokenizerTest {

    @TempDir
    Path tmp;

    @Test
    void textOnlyPromptsGiveTransformersInputIds() {
        for (String name : HfFixtures.NAMES) {
            String prompt = HfFixtures.testCase(name, 1).get("prompt").asText();
            try (HfTokenizer t = HfTokenizer.load(HfFixtures.dir(name)); SafeTensorsFile g = HfFixtures.golden(name)) {
                assertArrayEquals(g.readLongs("c1.input_ids"), t.encode(prompt), name);
            }
        }
    }

    @Test
    void specialTokensFollowThePostProcessor() {
        try (HfTokenizer llava = HfTokenizer.load(HfFixtures.dir("llava"))) {
            long[] ids = llava.encode("hi");
            assertEquals(1, ids[0]);                                    // <s> from the post-processor
            assertEquals(ids.length - 1, llava.encodeWithoutSpecialTokens("hi").length);
            assertEquals(1, llava.bosTokenId().getAsInt());
            assertEquals(2, llava.eosTokenId().getAsInt());
            assertEquals(3, llava.tokenId("<image>"));
            assertTrue(llava.specialTokenIds().contains(1));
        }
        try (HfTokenizer qwen = HfTokenizer.load(HfFixtures.dir("qwen2_5_vl"))) {
            assertArrayEquals(qwen.encodeWithoutSpecialTokens("hi"), qwen.encode("hi"));   // Qwen adds none
            assertEquals(6, qwen.tokenId("<|image_pad|>"));
            assertEquals(qwen.tokenId("<|im_end|>"), qwen.eosTokenId().getAsInt());
            assertTrue(qwen.bosTokenId().isEmpty());
            assertThrows(TokenizerException.class, () -> qwen.tokenId("<|no such token|>"));
        }
    }

    @Test
    void decodesGreedyGenerationsAsTransformersDid() {
        for (String name : HfFixtures.NAMES) {
            try (HfTokenizer t = HfTokenizer.load(HfFixtures.dir(name)); SafeTensorsFile g = HfFixtures.golden(name)) {
                for (int c = 0; c < 2; c++) {
                    String expected = HfFixtures.testCase(name, c).get("decoded_generation").asText();
                    assertEquals(expected, t.decode(g.readLongs("c" + c + ".generated_ids"), false), name + " c" + c);
                }
            }
        }
    }

    @Test
    void skipSpecialTokensDropsThem() {
        try (HfTokenizer t = HfTokenizer.load(HfFixtures.dir("qwen2_5_vl"))) {
            long[] ids = t.encode("<|im_start|>user\nhi<|im_end|>");
            assertEquals("user\nhi", t.decode(ids, true));
            assertEquals("<|im_start|>user\nhi<|im_end|>", t.decode(ids, false));
        }
    }

    @Test
    void longInputsAreNotTruncated() {
        try (HfTokenizer t = HfTokenizer.load(HfFixtures.dir("llava"))) {
            String text = "<image>".repeat(2000);
            long[] ids = t.encode(text);
            assertEquals(2001, ids.length);          // DJL's default would stop at 512
        }
    }

    @Test
    void missingOrCorruptTokenizerJsonIsNamed() throws IOException {
        TokenizerException e = assertThrows(TokenizerException.class, () -> HfTokenizer.load(tmp));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains("not found"), e.getMessage());
        Files.writeString(tmp.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
        e = assertThrows(TokenizerException.class, () -> HfTokenizer.load(tmp));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains("not valid JSON"), e.getMessage());
        Files.writeString(tmp.resolve("tokenizer.json"), "{\"model\": {\"type\": \"Nonsense\"}}");
        e = assertThrows(TokenizerException.class, () -> HfTokenizer.load(tmp));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains("cannot load"), e.getMessage());
    }

    @Test
    void cleanUpTokenizationMatchesTransformers() {
        assertEquals("Hello, world. It's fine, isn't it?", HfTokenizer.cleanUpTokenization("Hello , world . It 's fine , is n't it ?"));
    }
}
