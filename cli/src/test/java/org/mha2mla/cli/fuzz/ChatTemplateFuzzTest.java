package org.mha2mla.cli.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.mha2mla.importers.tokenizer.ChatMessage;
import org.mha2mla.importers.tokenizer.ChatTemplate;
import org.mha2mla.fixtures.Fixtures;

/**
 * Chat templates and message text. Two properties: (1) through the fixtures' templates, any message text (template
 * syntax, control characters, long runs) comes out verbatim where the question was, as Jinja2 prints it; (2) random
 * templates built from Jinja constructs (loops, ranges up to past the sandbox bound, macros, filters, tests, undefined
 * names, arithmetic, raise_exception) and mutated fixture templates end in a clear refusal naming the template, or
 * render the same text twice within the output bound, never hang.
 */
class ChatTemplateFuzzTest {

    private static final Path FIXTURES = Fixtures.hfRoot();
    private static final java.util.regex.Pattern IDENTITY = java.util.regex.Pattern.compile("@[0-9a-f]{4,}");
    private static final String QUESTION = "What is the color of the square?";
    private static final String[] PIECES = {"{{", "}}", "{%", "%}", "{#", "#}", "raise_exception('X')", "for i in range(300)", "endfor",
            "{{ 7 * 7 }}", "{% if true %}", "{% endif %}", "{% raw %}", "<image>", "<|im_start|>", "</s>", "\n", "\t", "\u0000", "\u00e9",
            "\ud83d\ude00", "'", "\"", "\\", "|", "~", " ", "x", "messages", "loop.index"};

    @Test
    void messageTextIsAlwaysVerbatim() throws Exception {
        // No refusal is right here: any message text renders.
        Fuzz fuzz = new Fuzz("chat template × message text", line -> false);
        Random r = Fuzz.random("message text");
        List<ChatTemplate> templates = new ArrayList<>();
        List<String> references = new ArrayList<>();
        for (String m : new String[] {"llava", "llava_next", "qwen2_5_vl"}) {
            ChatTemplate t = ChatTemplate.load(FIXTURES.resolve(m));
            templates.add(t);
            references.add(t.render(List.of(ChatMessage.withImages("user", 1, QUESTION)), true));
        }
        int n = Fuzz.cases(1500);
        for (int i = 0; i < n; i++) {
            StringBuilder b = new StringBuilder();
            for (int k = r.nextInt(12); k > 0; k--) b.append(PIECES[r.nextInt(PIECES.length)]);
            if (r.nextInt(20) == 0) b.append("x".repeat(r.nextInt(100_000)));
            String text = b.toString();
            int which = r.nextInt(templates.size());
            fuzz.check("case " + i, () -> assertEquals(references.get(which).replace(QUESTION, text),
                    templates.get(which).render(List.of(ChatMessage.withImages("user", 1, text)), true)));
        }
        fuzz.finish();
    }

    @Test
    void randomTemplatesAreRefusedClearlyOrRenderDeterministically() throws Exception {
        Fuzz fuzz = new Fuzz("chat template source", line -> line.startsWith("chat template: "));
        Random r = Fuzz.random("template source");
        List<String> fixtures = new ArrayList<>();
        for (String m : new String[] {"llava", "llava_next", "qwen2_5_vl"}) fixtures.add(Files.readString(FIXTURES.resolve(m).resolve("chat_template.jinja")));
        List<ChatMessage> chat = List.of(ChatMessage.withImages("user", 1, "{{ raise_exception('in data') }} q?"),
                ChatMessage.withImages("assistant", 0, "{% for i in range(9) %}a{% endfor %}"), ChatMessage.ofText("user", "again"));
        int n = Fuzz.cases(800);
        for (int i = 0; i < n; i++) {
            String source = r.nextInt(3) == 0 ? mutate(fixtures.get(r.nextInt(fixtures.size())), r) : block(r, 3);
            boolean generationPrompt = r.nextBoolean();
            fuzz.check("case " + i + " " + abbreviate(source), () -> {
                String once = ChatTemplate.of(source, Map.of("bos_token", "<s>")).render(chat, generationPrompt);
                assertTrue(once.length() <= 4_000_000, "output of " + once.length() + " characters");
                // Printing an iterator shows its identity (Jinjava "[Ljava.lang.Object;@1b2c…", Jinja2 "<list_reverseiterator
                // object at 0x…>"): the one part of an output that may differ between renderings.
                assertEquals(IDENTITY.matcher(once).replaceAll("@"), IDENTITY.matcher(ChatTemplate.of(source, Map.of("bos_token", "<s>"))
                        .render(chat, generationPrompt)).replaceAll("@"), "rendered twice");
            });
        }
        fuzz.finish();
    }

    private static final String[] EXPR = {"messages", "messages[0]", "messages[0]['content']", "messages[-1]['role']", "message['role']",
            "messages[9]['role']", "loop.index", "undefined_name", "undefined_name.attr", "bos_token", "add_generation_prompt", "none", "'s'",
            "1", "0", "-3", "2.5", "[1, 2]", "{'a': 1}", "range(3)", "range(1000)", "range(100001)", "range(-5)", "range(1, 10, 0)",
            "messages | length", "'x' * 3", "1 / 0", "'a' ~ 1", "'a' + 1", "raise_exception('boom')", "namespace(v=0)",
            "messages | tojson", "'<b>x</b>' | striptags", "'x' | nofilter", "'ab'.upper()", "'ab'.split('')"};
    private static final String[] FILTERS = {"length", "upper", "tojson", "default('d')", "join(',')", "first", "last", "trim", "string",
            "int", "list", "reverse", "striptags", "safe", "e"};

    static String expr(Random r) {
        String e = EXPR[r.nextInt(EXPR.length)];
        if (r.nextInt(3) == 0) e = e + " | " + FILTERS[r.nextInt(FILTERS.length)];
        if (r.nextInt(5) == 0) e = e + (r.nextBoolean() ? " is defined" : " is string");
        if (r.nextInt(6) == 0) e = e + " + " + EXPR[r.nextInt(EXPR.length)];
        return e;
    }

    /** A random template fragment of nesting at most {@code depth}. */
    static String block(Random r, int depth) {
        StringBuilder b = new StringBuilder();
        for (int k = 1 + r.nextInt(3); k > 0; k--) {
            int kind = depth == 0 ? r.nextInt(2) : r.nextInt(7);
            switch (kind) {
                case 0 -> b.append("text").append(r.nextInt(10));
                case 1 -> b.append("{{ ").append(expr(r)).append(" }}");
                case 2 -> b.append("{% for message in ").append(r.nextBoolean() ? "messages" : expr(r)).append(" %}").append(block(r, depth - 1))
                        .append("{% endfor %}");
                case 3 -> b.append("{% if ").append(expr(r)).append(" %}").append(block(r, depth - 1)).append("{% else %}")
                        .append(block(r, depth - 1)).append("{% endif %}");
                case 4 -> b.append("{% set v = ").append(expr(r)).append(" %}{{ v }}");
                case 5 -> b.append("{% macro m(a) %}").append(block(r, depth - 1)).append(r.nextInt(4) == 0 ? "{{ m(a) }}" : "")
                        .append("{% endmacro %}{{ m(1) }}");
                default -> b.append("{% for i in range(").append(new int[] {0, 3, 3, 50, 50, 1000, 1000, 100_000}[r.nextInt(8)]).append(") %}")
                        .append(block(r, depth - 1)).append("{% endfor %}");
            }
        }
        return b.toString();
    }

    /** Characters deleted, duplicated or replaced by template punctuation. */
    static String mutate(String source, Random r) {
        StringBuilder b = new StringBuilder(source);
        for (int k = 1 + r.nextInt(4); k > 0 && b.length() > 0; k--) {
            int at = r.nextInt(b.length());
            switch (r.nextInt(3)) {
                case 0 -> b.deleteCharAt(at);
                case 1 -> b.insert(at, b.substring(at, Math.min(b.length(), at + 1 + r.nextInt(20))));
                default -> b.setCharAt(at, "{}%#'\"|[]()"
                        .charAt(r.nextInt(11)));
            }
        }
        return b.toString();
    }

    private static String abbreviate(String s) {
        String one = s.replace('\n', ' ');
        return one.length() <= 60 ? one : one.substring(0, 60) + "…";
    }
}
