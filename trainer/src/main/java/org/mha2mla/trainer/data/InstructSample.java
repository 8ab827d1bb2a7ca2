package org.mha2mla.trainer.data;

import java.util.ArrayList;
import java.util.List;

import org.mha2mla.trainer.LossMask;

/**
 * One record of a LLaVA-instruct JSON file: {@code {"id", "image": "relative/path.jpg", "conversations":
 * [{"from": "human", "value": "<image>\n..."}, {"from": "gpt", "value": "..."}]}}. {@code images} is empty for
 * text-only records and may hold several paths (a JSON list).
 */
public record InstructSample(String id, List<String> images, List<Turn> conversations) {

    /** LLaVA's placeholder for where the image goes in a human turn. */
    public static final String IMAGE_PLACEHOLDER = "<image>";

    public record Turn(String from, String value) {
    }

    public InstructSample {
        images = List.copyOf(images);
        conversations = List.copyOf(conversations);
    }

    /** The turns as chat messages: human → user, gpt → assistant, system → system. */
    public List<LossMask.Message> messages() {
        List<LossMask.Message> out = new ArrayList<>();
        for (Turn t : conversations) out.add(new LossMask.Message(role(t.from(), "sample '" + id + "'"), t.value()));
        return out;
    }

    /** The chat role of a turn's {@code from}: human/user → user, gpt/assistant → assistant, system → system. */
    static String role(String from, String where) {
        return switch (from) {
            case "human", "user" -> LossMask.USER;
            case "gpt", "assistant" -> LossMask.ASSISTANT;
            case "system" -> LossMask.SYSTEM;
            default -> throw new IllegalArgumentException(where + ": conversation turn from '" + from + "' (expected human, gpt or system)");
        };
    }
}
