package org.mha2mla.trainer;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * Which tokens the loss sees: the assistant replies only (LLaVA's and the paper's supervised fine-tuning), found
 * from the model's own chat template.
 *
 * <p>How the spans are found: for every assistant turn i the conversation is rendered twice, once up to turn i
 * with the generation prompt ({@code ...ASSISTANT:}) and once including turn i ({@code ...ASSISTANT: reply</s>});
 * both are tokenized and the token span between the two lengths is the reply, end-of-turn token included (the
 * model must learn to stop). This is what transformers' {@code return_assistant_tokens_mask} marks for templates
 * with {@code {% generation %}} blocks, obtained without needing such blocks in the template. Both renderings are
 * measured as their longest common prefix with the tokens of the whole conversation: should a tokenizer merge
 * text across a turn boundary into one token, that token is left out of the span, so the span can shrink by
 * the merged token but never covers prompt text.
 */
public final class LossMask {

    /** The label of positions the loss ignores (PyTorch's CrossEntropyLoss ignore_index, HF's IGNORE_INDEX). */
    public static final long IGNORE_INDEX = -100;

    public static final String USER = "user";
    public static final String ASSISTANT = "assistant";
    public static final String SYSTEM = "system";

    private LossMask() {
    }

    /** One chat message; {@code content} may contain the model's image placeholder (e.g. {@code <image>}). */
    public record Message(String role, String content) {
        public Message {
            if (!USER.equals(role) && !ASSISTANT.equals(role) && !SYSTEM.equals(role)) {
                throw new IllegalArgumentException("message role must be user, assistant or system, got '" + role + "'");
            }
        }
    }

    /** The model's chat template: messages → prompt text. */
    @FunctionalInterface
    public interface ChatRenderer {
        String render(List<Message> messages, boolean addGenerationPrompt);
    }

    /**
     * Token ids of a conversation and its labels: the token itself on assistant-reply positions,
     * {@link #IGNORE_INDEX} elsewhere (HF convention: labels are not shifted; {@link #targets} shifts).
     */
    public record Labeled(long[] inputIds, long[] labels) {
        public Labeled {
            if (inputIds.length != labels.length) {
                throw new IllegalArgumentException("input_ids has " + inputIds.length + " tokens but labels " + labels.length);
            }
        }

        /** What position t must predict: {@code labels[t + 1]}; the last position predicts nothing. */
        public long[] targets() {
            return shift(labels);
        }

        public int supervisedTokens() {
            int n = 0;
            for (long l : labels) if (l != IGNORE_INDEX) n++;
            return n;
        }

        public int length() {
            return inputIds.length;
        }

        /** The first {@code length} tokens. */
        public Labeled truncate(int length) {
            return length >= inputIds.length ? this
                    : new Labeled(Arrays.copyOf(inputIds, length), Arrays.copyOf(labels, length));
        }
    }

    /**
     * Tokenizes {@code conversation} with the chat template and labels its assistant replies.
     *
     * @param tokenize text → token ids exactly as training feeds them (special tokens added, image placeholders
     *                 expanded), applied to every rendering alike
     */
    public static Labeled build(List<Message> conversation, ChatRenderer renderer, Function<String, long[]> tokenize) {
        long[] ids = tokenize.apply(renderer.render(conversation, false));
        long[] labels = new long[ids.length];
        Arrays.fill(labels, IGNORE_INDEX);
        for (int i = 0; i < conversation.size(); i++) {
            if (!ASSISTANT.equals(conversation.get(i).role())) continue;
            long[] prompt = tokenize.apply(renderer.render(conversation.subList(0, i), true));
            long[] upToReply = tokenize.apply(renderer.render(conversation.subList(0, i + 1), false));
            int start = commonPrefix(prompt, ids);
            // A token merged across the prompt/reply boundary holds prompt text: the reply starts after it.
            if (start < prompt.length) start++;
            // One merged across the reply/next-turn boundary holds the next prompt: the reply ends before it.
            int end = commonPrefix(upToReply, ids);
            for (int t = start; t < end; t++) labels[t] = ids[t];
        }
        return new Labeled(ids, labels);
    }

    /** Next-token targets: {@code out[t] = labels[t + 1]}, the last one {@link #IGNORE_INDEX}. */
    public static long[] shift(long[] labels) {
        long[] out = new long[labels.length];
        System.arraycopy(labels, 1, out, 0, labels.length - 1);
        if (labels.length > 0) out[labels.length - 1] = IGNORE_INDEX;
        return out;
    }

    private static int commonPrefix(long[] a, long[] b) {
        int n = Math.min(a.length, b.length);
        int i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }
}
