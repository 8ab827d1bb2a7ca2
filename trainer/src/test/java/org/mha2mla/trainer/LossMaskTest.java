package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

class LossMaskTest {

    private static final long I = LossMask.IGNORE_INDEX;

    /** The LLaVA fixture's chat_template.jinja, text-only: "USER: q ASSISTANT: a</s>" per exchange. */
    static final LossMask.ChatRenderer LLAVA = (messages, addGenerationPrompt) -> {
        StringBuilder sb = new StringBuilder();
        for (LossMask.Message m : messages) {
            if (m.role().equals(LossMask.USER)) sb.append("USER: ").append(m.content()).append(' ');
            else sb.append("ASSISTANT: ").append(m.content()).append("</s>");
        }
        if (addGenerationPrompt) sb.append("ASSISTANT:");
        return sb.toString();
    };

    /** Word-level tokenizer with a BOS (id 1), "</s>" = 2, other words numbered in order of first sight from 10. */
    static final class WordTokenizer implements Function<String, long[]> {
        final Map<String, Long> vocab = new HashMap<>(Map.of("</s>", 2L));
        final Pattern token;

        WordTokenizer(String pattern) {
            this.token = Pattern.compile(pattern);
        }

        @Override
        public long[] apply(String text) {
            List<Long> ids = new ArrayList<>(List.of(1L));
            Matcher m = token.matcher(text);
            while (m.find()) ids.add(vocab.computeIfAbsent(m.group(), w -> 10L + vocab.size()));
            return ids.stream().mapToLong(Long::longValue).toArray();
        }

        long id(String w) {
            return vocab.get(w);
        }
    }

    private static final List<LossMask.Message> TWO_TURNS = List.of(
            new LossMask.Message(LossMask.USER, "hi there"),
            new LossMask.Message(LossMask.ASSISTANT, "hello"),
            new LossMask.Message(LossMask.USER, "bye"),
            new LossMask.Message(LossMask.ASSISTANT, "ok bye"));

    @Test
    void marksEveryAssistantReplyWithItsEndOfTurnToken() {
        WordTokenizer tok = new WordTokenizer("</s>|[^\\s<]+");
        LossMask.Labeled l = LossMask.build(TWO_TURNS, LLAVA, tok);
        // <s> USER: hi there ASSISTANT: hello </s> USER: bye ASSISTANT: ok bye </s>
        //  0   1    2  3     4          5     6    7     8   9          10 11  12
        long[] ids = l.inputIds();
        assertEquals(13, ids.length);
        assertEquals(tok.id("hello"), ids[5]);
        long[] expected = {I, I, I, I, I, ids[5], 2, I, I, I, ids[10], ids[11], 2};
        assertArrayEquals(expected, l.labels());
        assertEquals(5, l.supervisedTokens());
        // next-token targets: position t predicts labels[t + 1]
        assertArrayEquals(new long[]{I, I, I, I, ids[5], 2, I, I, I, ids[10], ids[11], 2, I}, l.targets());
    }

    @Test
    void aTokenMergedAcrossTheTurnBoundaryIsNotSupervised() {
        // "ASSISTANT: hello" becomes one token in the full text, but "ASSISTANT:" alone ends the prompt.
        WordTokenizer tok = new WordTokenizer("ASSISTANT: hello|</s>|[^\\s<]+");
        LossMask.Labeled l = LossMask.build(TWO_TURNS.subList(0, 2), LLAVA, tok);
        // <s> USER: hi there [ASSISTANT: hello] </s>
        assertEquals(6, l.length());
        assertArrayEquals(new long[]{I, I, I, I, I, 2}, l.labels());
    }

    @Test
    void systemAndUserOnlyConversationsHaveNoLabels() {
        WordTokenizer tok = new WordTokenizer("</s>|[^\\s<]+");
        LossMask.Labeled l = LossMask.build(List.of(new LossMask.Message(LossMask.USER, "hi")), LLAVA, tok);
        assertEquals(0, l.supervisedTokens());
        assertThrows(IllegalArgumentException.class, () -> new LossMask.Message("gpt", "x"));
    }

    @Test
    void truncateAndShift() {
        LossMask.Labeled l = new LossMask.Labeled(new long[]{1, 5, 6, 7}, new long[]{I, I, 6, 7});
        assertArrayEquals(new long[]{I, 6, 7, I}, LossMask.shift(l.labels()));
        LossMask.Labeled t = l.truncate(3);
        assertArrayEquals(new long[]{1, 5, 6}, t.inputIds());
        assertArrayEquals(new long[]{I, 6, I}, t.targets());
    }
}
