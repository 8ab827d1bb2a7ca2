package org.mha2mla.importers.tokenizer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One message of a conversation as transformers' {@code apply_chat_template} receives it: a role and either a
 * plain string content or the processors' list content ({@code [{"type": "image"}, {"type": "text", "text": ...}]}).
 */
public record ChatMessage(String role, String text, List<Part> parts) {

    /** One element of list content. */
    public sealed interface Part permits Text, Image {
    }

    public record Text(String text) implements Part {
    }

    public record Image() implements Part {
    }

    public ChatMessage {
        if (role == null || role.isEmpty()) throw new IllegalArgumentException("chat message needs a role");
        if ((text == null) == (parts == null)) throw new IllegalArgumentException("chat message has string content or parts, not both");
        parts = parts == null ? null : List.copyOf(parts);
    }

    /** String content ({@code {"role": r, "content": "..."}}). */
    public static ChatMessage ofText(String role, String text) {
        return new ChatMessage(role, text, null);
    }

    /** List content. */
    public static ChatMessage of(String role, List<Part> parts) {
        return new ChatMessage(role, null, parts);
    }

    /** {@code images} image parts, then the text (the usual single-turn processor message). */
    public static ChatMessage withImages(String role, int images, String text) {
        List<Part> parts = new ArrayList<>();
        for (int i = 0; i < images; i++) parts.add(new Image());
        parts.add(new Text(text));
        return of(role, parts);
    }

    public int imageCount() {
        if (parts == null) return 0;
        int n = 0;
        for (Part p : parts) if (p instanceof Image) n++;
        return n;
    }

    /** The message as the template sees it (insertion-ordered maps, so tojson keeps Python's key order). */
    Map<String, Object> toTemplateValue() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        if (parts == null) {
            m.put("content", text);
        } else {
            List<Object> content = new ArrayList<>();
            for (Part p : parts) {
                Map<String, Object> c = new LinkedHashMap<>();
                if (p instanceof Text t) {
                    c.put("type", "text");
                    c.put("text", t.text());
                } else {
                    c.put("type", "image");
                }
                content.add(c);
            }
            m.put("content", content);
        }
        return m;
    }
}
