package org.mha2mla.importers.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.HfFixtures;

/**
 * The fixtures' chat templates against the prompts transformers' processors were given (case.json), and the
 * Jinja2 behaviours hub templates rely on.
 */
class ChatTemplateTest {

    @TempDir
    Path tmp;

    private static List<ChatMessage> user(int images, String text) {
        return List.of(ChatMessage.withImages("user", images, text));
    }

    @Test
    void fixtureTemplatesRenderTheCasePrompts() {
        for (String name : HfFixtures.NAMES) {
            ChatTemplate t = ChatTemplate.load(HfFixtures.dir(name));
            assertEquals(HfFixtures.testCase(name, 0).get("prompt").asText(), t.render(user(1, "What is the color of the square?"), true), name);
            assertEquals(HfFixtures.testCase(name, 1).get("prompt").asText(), t.render(user(0, "how many shapes are there?"), true), name);
        }
    }

    @Test
    void multiTurnAndGenerationPrompt() {
        ChatTemplate llava = ChatTemplate.load(HfFixtures.dir("llava"));
        List<ChatMessage> chat = List.of(ChatMessage.withImages("user", 1, "What is it?"),
                ChatMessage.withImages("assistant", 0, "a square"), ChatMessage.withImages("user", 0, "colour?"));
        assertEquals("USER: <image>\nWhat is it? ASSISTANT: a square</s>USER: colour? ASSISTANT:", llava.render(chat, true));
        assertEquals("USER: <image>\nWhat is it? ASSISTANT: a square</s>USER: colour? ", llava.render(chat, false));
        ChatTemplate qwen = ChatTemplate.load(HfFixtures.dir("qwen2_5_vl"));
        assertEquals("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n",
                qwen.render(List.of(ChatMessage.ofText("user", "hi"), ChatMessage.ofText("assistant", "yo")), false));
    }

    /** llava-hf/llava-1.5-7b-hf's template: str.upper(), selectattr, {# comments #} and the {% generation %} tag. */
    @Test
    void llavaHubTemplate() {
        String hub = "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
                + "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
                + "{{ '<image>\\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
                + "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
                + "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
                + "{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
                + "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";
        ChatTemplate t = ChatTemplate.of(hub, Map.of());
        assertEquals("USER: <image>\nWhat is shown? ASSISTANT:", t.render(user(1, "What is shown?"), true));
        assertEquals("USER: hi ASSISTANT: yo ", t.render(List.of(ChatMessage.withImages("user", 0, "hi"),
                ChatMessage.withImages("assistant", 0, "yo")), false));
    }

    /** Qwen/Qwen2.5-VL-7B-Instruct's template: namespace counters, 'key' in dict, is string, a default system turn. */
    @Test
    void qwenHubTemplate() {
        String hub = "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
                + "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
                + "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
                + "{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
                + "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
                + "<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content %}"
                + "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
                + "<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
                + "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
        ChatTemplate t = ChatTemplate.of(hub, Map.of());
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                + "<|vision_start|><|image_pad|><|vision_end|>What?<|im_end|>\n<|im_start|>assistant\n", t.render(user(1, "What?"), true));
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nPicture 1: "
                        + "<|vision_start|><|image_pad|><|vision_end|>Picture 2: <|vision_start|><|image_pad|><|vision_end|>Two?<|im_end|>\n",
                t.render(user(2, "Two?"), false, Map.of("add_vision_id", true)));
    }

    @Test
    void whitespaceControlIsJinja2s() {
        // trim_blocks eats the newline after a block tag; lstrip_blocks the indentation before one at line start only.
        String src = "{% for m in messages %}\n    {% if true %}\n[{{ m['role'] }}]  {% endif %}\n{% endfor %}";
        assertEquals("[user]  ", ChatTemplate.of(src, Map.of()).render(user(0, "x"), false));
        assertEquals("  a{{ x }}\n", ChatTemplate.jinja2Whitespace("  a{{ x }}\n"));
        assertEquals("{% if %}  {% endif %}", ChatTemplate.jinja2Whitespace("  {% if %}  {% endif %}"));
        assertEquals("  {%+ if %}", ChatTemplate.jinja2Whitespace("  {%+ if %}"));
        assertEquals("xyz", ChatTemplate.of("x  {%- if true -%}  y  {%- endif %}z", Map.of()).render(List.of(), false));
    }

    @Test
    void specialTokensPythonMethodsTojsonAndRaiseException() {
        ChatTemplate t = ChatTemplate.of("{{ bos_token }}{{ messages[0]['content'][0]['text'].strip().split(' ') | length }}"
                + "{{ 'ab'.startswith('a') }}{{ messages[0].get('missing', 'd') }}|{{ messages | tojson }}", Map.of("bos_token", "<s>"));
        assertEquals("<s>2trued|[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \" x \\\"y\\\" \"}]}]",
                t.render(user(0, " x \"y\" "), false));
        ChatTemplate raising = ChatTemplate.of("{% if messages | length == 0 %}{{ raise_exception('Conversation is empty') }}{% endif %}",
                Map.of());
        TokenizerException e = assertThrows(TokenizerException.class, () -> raising.render(List.of(), true));
        assertTrue(e.getMessage().contains("Conversation is empty"), e.getMessage());
        assertThrows(TokenizerException.class, () -> ChatTemplate.of("{{ 'a'.nomethod() }}", Map.of()).render(List.of(), true));
    }

    /** Template syntax a user or a data file writes, as Jinja2 prints it: literally (Jinjava would render it again). */
    static final String[] HOSTILE_TEXT = {"{{ raise_exception('X') }}", "{% for i in range(300) %}Z{% endfor %}", "{# hidden #}",
            "{{ 7 * 7 }}", "{%- if true -%} y {%- endif %}", "{{ messages }}", "{% raw %}r{% endraw %}", "{% include 'x' %}", "}}{{"};

    @Test
    void messageContentIsDataNeverTemplateCode() {
        String question = "What is the color of the square?";
        for (String name : HfFixtures.NAMES) {
            ChatTemplate t = ChatTemplate.load(HfFixtures.dir(name));
            String reference = t.render(user(1, question), true);
            for (String h : HOSTILE_TEXT) {
                String text = "Q " + h + " end";
                assertEquals(reference.replace(question, text), t.render(user(1, text), true), name + ": " + h);
                // A training answer: the assistant turn holds the text verbatim.
                String answered = t.render(List.of(ChatMessage.withImages("user", 0, "q?"), ChatMessage.withImages("assistant", 0, text)), false);
                assertTrue(answered.contains(text), name + ": " + answered);
            }
        }
        // String content too, and through the tojson filter.
        ChatTemplate plain = ChatTemplate.of("{{ messages[0]['content'] }}|{{ messages[0]['content'] | tojson }}", Map.of());
        assertEquals("{{ 7 * 7 }}|\"{{ 7 * 7 }}\"", plain.render(List.of(ChatMessage.ofText("user", "{{ 7 * 7 }}")), false));
    }

    /** Jinja2's default Undefined (transformers' environment): printable, falsy, iterable and comparable, nothing more. */
    @Test
    void undefinedValuesFollowJinja2() {
        ChatTemplate allowed = ChatTemplate.of("[{{ messages[0].nope }}|{{ foo }}|{{ foo ~ 'a' }}|{{ foo | default('d') }}|"
                + "{% for x in foo %}x{% endfor %}|{% if foo is defined %}D{% else %}U{% endif %}|{% if foo %}T{% else %}F{% endif %}|"
                + "{{ foo | length }}|{% if foo == 1 %}E{% else %}N{% endif %}]", Map.of());
        assertEquals("[||a|d||U|F|0|N]", allowed.render(user(0, "x"), false));
        String[][] raising = {{"{{ messages[0].nope.deeper }}", "'messages[0].nope' is undefined"}, {"{{ foo.bar }}", "'foo' is undefined"},
                {"{{ foo['k'] }}", "'foo' is undefined"}, {"{{ foo + 'a' }}", "'foo' is undefined"}, {"{{ foo.strip() }}", "'foo' is undefined"},
                {"{{ messages[3]['role'] }}", "'messages[3]' is undefined"}, {"{% if foo < 1 %}{% endif %}", "'foo' is undefined"},
                {"{{ messages[0].nope[1:] }}", "'messages[0].nope' is undefined"}, {"{{ 'x' | nofilter }}", "no filter named 'nofilter'"}};
        for (String[] r : raising) {
            TokenizerException e = assertThrows(TokenizerException.class, () -> ChatTemplate.of(r[0], Map.of()).render(user(0, "x"), false), r[0]);
            assertTrue(e.getMessage().contains(r[1]), r[0] + ": " + e.getMessage());
        }
    }

    /** A template from a downloaded folder is code: each of these ends in one line naming the template and the bound. */
    @Test
    void hostileTemplatesStopWithOneLine() {
        List<ChatMessage> many = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) many.add(ChatMessage.withImages(i % 2 == 0 ? "user" : "assistant", 0, "m" + i));
        String[][] cases = {
                {"{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}x{% endfor %}{% endfor %}{% endfor %}",
                        "rendered more than 100000 nodes"},
                {"{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "range() calls produced more than"},
                {"{% for a in messages %}{% for b in messages %}x{% endfor %}{% endfor %}", "more than 100000 nodes"},
                {"{{ range(100001) | length }}", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)"},
                {"{% set s = 'ab' %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}{{ s }}", "over limit of 4000000"},
                {"{% for m in messages %}" + "five hundred characters of text ".repeat(16) + "{% endfor %}", "over limit of 4000000"},
                {"{% for a in messages %}{{ undefined_name.x }}{% endfor %}", "'undefined_name' is undefined"},
                {"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "Max recursion limit of 100 reached for macro 'f'"},
                {"{% include 'logback.xml' %}", "'include' is disabled"},
                {"{% import 'x.j2' as x %}", "'import' is disabled"},
                {"{{ '{{ 1 + 1 }}' | render }}", "'render' is disabled"},
                {"{{ raise_exception('refused') }}", "the chat template raised: refused"},
                {"{{ 'ab'.split('') }}", "split(): empty separator"},     // looped forever, found by the fuzz suite
                {"{% for a in messages %}{{ raise_exception('first') }}{% endfor %}", "the chat template raised: first"}};
        for (String[] c : cases) {
            TokenizerException e = assertThrows(TokenizerException.class,
                    () -> assertTimeoutPreemptively(Duration.ofSeconds(60), () -> ChatTemplate.of(c[0], Map.of()).render(many, false)), c[0]);
            assertTrue(e.getMessage().startsWith("chat template: rendering "), e.getMessage());
            assertTrue(e.getMessage().contains(c[1]), c[0] + ": " + e.getMessage());
            assertEquals(-1, e.getMessage().indexOf('\n'), e.getMessage());
        }
        // Within the bounds: Jinja2's range semantics, and the fixtures' templates on a 2,000-message conversation.
        assertEquals("[0, 1, 2][1, 4, 7][5, 3, 1][]", ChatTemplate.of("{{ range(3) }}{{ range(1, 10, 3) }}{{ range(5, 0, -2) }}{{ range(2, 1) }}",
                Map.of()).render(List.of(), false));
        for (String name : HfFixtures.NAMES) {
            String prompt = ChatTemplate.load(HfFixtures.dir(name)).render(many.subList(0, 2000), true);
            assertTrue(prompt.contains("m1999"), name);
            long nodes = RenderBudget.nodesOfLastRendering();
            assertTrue(nodes > 2000 && nodes < 40_000, name + ": " + nodes + " nodes");
        }
    }

    /** Jinja2's striptags removes tags and collapses spaces; it never renders the text (Jinjava's does). */
    @Test
    void striptagsIsJinja2s() {
        ChatTemplate t = ChatTemplate.of("{{ messages[0]['content'] | striptags }}", Map.of());
        assertEquals("x {{ 7 * 7 }} & y", t.render(List.of(ChatMessage.ofText("user", " <b>x</b>\n {{ 7 * 7 }} <!-- c --> &amp; y ")), false));
    }

    @Test
    void templateSourcesInTransformersOrder() throws IOException {
        Files.writeString(tmp.resolve("tokenizer_config.json"),
                "{\"eos_token\": {\"content\": \"</s>\"}, \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
                        + " {\"name\": \"default\", \"template\": \"D{{ eos_token }}\"}]}");
        assertEquals("D</s>", ChatTemplate.load(tmp).render(List.of(), false));
        Files.writeString(tmp.resolve("processor_config.json"), "{\"chat_template\": \"P\"}");
        assertEquals("P", ChatTemplate.load(tmp).render(List.of(), false));
        Files.writeString(tmp.resolve("chat_template.json"), "{\"chat_template\": \"J\"}");
        assertEquals("J", ChatTemplate.load(tmp).render(List.of(), false));
        Files.writeString(tmp.resolve("chat_template.jinja"), "K");
        assertEquals("K", ChatTemplate.load(tmp).render(List.of(), false));
        Path empty = Files.createDirectories(tmp.resolve("none"));
        TokenizerException e = assertThrows(TokenizerException.class, () -> ChatTemplate.load(empty));
        assertTrue(e.getMessage().contains("no chat template"), e.getMessage());
    }
}
