package org.mha2mla.importers.init;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.mha2mla.importers.config.ConfigException;

class SpecialTokensTest {

    /** A BPE tokenizer.json with <s>=1 and <image>=3 in both vocab and added_tokens, and <extra> only in added_tokens. */
    private static ObjectNode tokenizer() throws Exception {
        return (ObjectNode) new ObjectMapper().readTree("""
                {"added_tokens": [{"id": 1, "content": "<s>", "special": true}, {"id": 3, "content": "<image>", "special": true},
                                  {"id": 5, "content": "<extra>", "special": true}],
                 "post_processor": {"type": "TemplateProcessing",
                    "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
                 "model": {"type": "BPE", "vocab": {"<unk>": 0, "<s>": 1, "a": 2, "<image>": 3, "b": 4}, "merges": []}}
                """);
    }

    private static SpecialTokens.Assignment a(String field, String token, int id) {
        return new SpecialTokens.Assignment(field, token, id);
    }

    @Test
    void movesTokensInVocabAddedTokensAndTemplate() throws Exception {
        ObjectNode t = tokenizer();
        Map<String, Integer> moved = SpecialTokens.remap(t, List.of(a("image_token_index", "<image>", 900), a("bos_token_id", "<s>", 800)),
                1000, "tok");
        assertEquals(Map.of("<image>", 3, "<s>", 1), moved);
        assertEquals(900, t.at("/model/vocab/<image>").asInt());
        assertEquals(800, t.at("/model/vocab/<s>").asInt());
        assertEquals(900, t.at("/added_tokens/1/id").asInt());
        assertEquals(800, t.at("/post_processor/special_tokens/<s>/ids/0").asInt());
        assertEquals(5, t.at("/model/vocab/<extra>").asInt(), "an added-only token is pinned to its id in the vocabulary");
        assertEquals(2, t.at("/model/vocab/a").asInt());
    }

    @Test
    void refusesInconsistentAssignments() throws Exception {
        ConfigException taken = assertThrows(ConfigException.class,
                () -> SpecialTokens.remap(tokenizer(), List.of(a("image_token_index", "<image>", 4)), 1000, "tok"));
        assertTrue(taken.getMessage().contains("id 4") && taken.getMessage().contains("'b'"), taken.getMessage());
        ConfigException missing = assertThrows(ConfigException.class,
                () -> SpecialTokens.remap(tokenizer(), List.of(a("image_token_id", "<|image_pad|>", 7)), 1000, "tok"));
        assertTrue(missing.getMessage().contains("'<|image_pad|>'") && missing.getMessage().contains("image_token_id"), missing.getMessage());
        ConfigException outside = assertThrows(ConfigException.class,
                () -> SpecialTokens.remap(tokenizer(), List.of(a("image_token_index", "<image>", 1000)), 1000, "tok"));
        assertTrue(outside.getMessage().contains("vocab_size 1000"), outside.getMessage());
        ConfigException twoIds = assertThrows(ConfigException.class, () -> SpecialTokens.remap(tokenizer(),
                List.of(a("bos_token_id", "<s>", 10), a("pad_token_id", "<s>", 11)), 1000, "tok"));
        assertTrue(twoIds.getMessage().contains("both name token '<s>'"), twoIds.getMessage());
        // swapping two special tokens is fine: each vacates the id the other takes
        ObjectNode t = tokenizer();
        SpecialTokens.remap(t, List.of(a("image_token_index", "<image>", 1), a("bos_token_id", "<s>", 3)), 1000, "tok");
        assertEquals(1, t.at("/model/vocab/<image>").asInt());
    }
}
