package org.mha2mla.trainer.pretrain;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The written tokenizer.json through DJL's HuggingFaceTokenizer (the Rust tokenizers library transformers uses). */
class WordLevelTokenizerTest {

    static final WordLevelTokenizer TOKENIZER = WordLevelTokenizer.of(List.of("what", "color", "is", "the", "circle", "?",
            "user", "assistant", "red", "2"));

    static HuggingFaceTokenizer load(Path dir) throws Exception {
        Path file = dir.resolve("tokenizer.json");
        new ObjectMapper().writeValue(file.toFile(), TOKENIZER.json());
        return HuggingFaceTokenizer.newInstance(file);
    }

    @Test
    void chatPromptTokenizesToOneIdPerWordMarkAndNewline(@TempDir Path dir) throws Exception {
        try (HuggingFaceTokenizer t = load(dir)) {
            String prompt = "<|im_start|>user\n<|vision_start|><|image_pad|><|image_pad|><|vision_end|>What color is the circle?"
                    + "<|im_end|>\n<|im_start|>assistant\n";
            long[] ids = t.encode(prompt).getIds();
            int nl = TOKENIZER.id("\n");
            assertEquals(9, nl);
            long[] expected = {1, TOKENIZER.id("user"), nl, 3, 6, 6, 4, TOKENIZER.id("what"), TOKENIZER.id("color"),
                    TOKENIZER.id("is"), TOKENIZER.id("the"), TOKENIZER.id("circle"), TOKENIZER.id("?"), 2, nl, 1,
                    TOKENIZER.id("assistant"), nl};
            assertArrayEquals(expected, ids);
            // No BOS/EOS added (Qwen's tokenizer adds none), unknown words map to <unk>.
            assertArrayEquals(new long[] {TOKENIZER.id("red"), 8, TOKENIZER.id("2")}, t.encode("Red  banana 2").getIds());
        }
    }

    @Test
    void decodingSkipsSpecialTokensAndJoinsWords(@TempDir Path dir) throws Exception {
        try (HuggingFaceTokenizer t = load(dir)) {
            assertEquals("red", t.decode(new long[] {TOKENIZER.id("red"), 2}, true));
            assertEquals("what color is the circle?", t.decode(t.encode("what color is the circle?").getIds(), true));
        }
    }

    @Test
    void wordsThatThePreTokenizerWouldSplitAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> WordLevelTokenizer.of(List.of("light blue")));
        assertThrows(IllegalArgumentException.class, () -> WordLevelTokenizer.of(List.of("Red")));
        assertEquals(List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>"), TOKENIZER.tokens().subList(0, 3));
    }
}
