package org.mha2mla.importers.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import jinjava.javax.el.CompositeELResolver;

/**
 * A model's chat template rendered the way transformers' {@code apply_chat_template} renders it with Jinja2:
 * {@code trim_blocks} and {@code lstrip_blocks} on, variables {@code messages}, {@code add_generation_prompt} and
 * the tokenizer's special tokens ({@code bos_token}, {@code eos_token}, ...), the globals {@code raise_exception}
 * and {@code strftime_now}, transformers' {@code tojson} and the {@code {% generation %}} block tag (rendered as
 * its body). Jinjava differs from Jinja2 in two ways that matter here, both bridged: its {@code lstrip_blocks}
 * also strips spaces before block tags in the middle of a line (so Jinja2's line-start rule is applied to the
 * source instead), and Java strings lack Python's str methods ({@link PythonMethods}).
 *
 * <p>Message content is data, never template code: Jinja2 prints a variable's value as is, while Jinjava by default
 * renders a printed value again as a template when it contains {@code {{} or {@code {%}, so a prompt holding
 * {@code {{ raise_exception('X') }}} aborted the run and {@code {% for i in range(300) %}Z{% endfor %}} became 300
 * tokens. Nested interpretation is therefore off, and so are the constructs that would re-render text or read
 * other files: the {@code render} filter, Jinjava's {@code striptags} (replaced by Jinja2's, which only strips) and
 * the {@code include}, {@code import}, {@code from} and {@code extends} tags (transformers' environment has no loader).
 * Undefined values follow Jinja2 ({@link Jinja2Undefined}). A template is code from a downloaded folder, so one
 * rendering is bounded ({@link RenderBudget}): nodes rendered, {@code range()} lengths (Jinja2's sandbox limit),
 * output size and wall time; past a bound it fails with one line instead of hanging the process.
 *
 * <p>Where the template comes from, first found wins: {@code chat_template.jinja} (transformers 5),
 * {@code chat_template.json} (transformers 4 processors), the {@code chat_template} field of
 * {@code processor_config.json}, then of {@code tokenizer_config.json} (a string, or a list of named templates
 * of which "default" is used).
 */
public final class ChatTemplate {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Jinja2's lstrip_blocks: spaces and tabs from the start of a line up to a block or comment tag ({%+ opts out). */
    private static final Pattern LSTRIP = Pattern.compile("(?m)^[ \\t]+(?=\\{%(?!\\+)|\\{#)");

    private final String source;
    private final String origin;
    private final Map<String, String> specialTokens;
    private final Jinjava jinjava;

    private ChatTemplate(String source, String origin, Map<String, String> specialTokens) {
        this.source = source;
        this.origin = origin;
        this.specialTokens = Map.copyOf(specialTokens);
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        this.jinjava = Jinja2Undefined.jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(false)
                .withElResolver(resolver)
                .withNestedInterpretationEnabled(false)
                .withDisabled(Map.of(Context.Library.TAG, Set.of("include", "import", "from", "extends"),
                        Context.Library.FILTER, Set.of("render")))
                .withMaxOutputSize(RenderBudget.MAX_OUTPUT_CHARS)
                .withMaxStringLength(RenderBudget.MAX_OUTPUT_CHARS)
                .withMaxListSize(RenderBudget.MAX_COLLECTION_SIZE)
                .withMaxMapSize(RenderBudget.MAX_COLLECTION_SIZE)
                .withRangeLimit(RenderBudget.MAX_RANGE)
                .withEnableRecursiveMacroCalls(true)
                .withMaxMacroRecursionDepth(RenderBudget.MAX_MACRO_DEPTH)
                .withNodePreProcessor((node, interpreter) -> RenderBudget.current().node(interpreter))
                .build());
        jinjava.getGlobalContext().registerTag(new GenerationTag());
        jinjava.getGlobalContext().registerFilter(new ToJsonFilter());
        jinjava.getGlobalContext().registerFilter(new StripTagsFilter());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now", ChatTemplate.class,
                "strftimeNow", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "range", ChatTemplate.class,
                "range", Object.class, Object[].class));
    }

    /** A template given as text; {@code specialTokens} become template variables (bos_token → "<s>", ...). */
    public static ChatTemplate of(String source, Map<String, String> specialTokens) {
        return new ChatTemplate(source, "chat template", specialTokens);
    }

    /** The template of a model folder, with the special-token names of its tokenizer_config.json. */
    public static ChatTemplate load(Path modelDir) {
        Map<String, String> tokens = new HashMap<>();
        JsonNode tokenizerConfig = readJson(modelDir.resolve(HfTokenizer.CONFIG_FILE));
        if (tokenizerConfig != null) {
            for (String key : new String[]{"bos_token", "eos_token", "unk_token", "pad_token"}) {
                JsonNode n = tokenizerConfig.get(key);
                if (n != null && n.isTextual()) tokens.put(key, n.asText());
                else if (n != null && n.isObject() && n.has("content")) tokens.put(key, n.get("content").asText());
            }
        }
        Path jinja = modelDir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            try {
                return new ChatTemplate(Files.readString(jinja), jinja.toString(), tokens);
            } catch (IOException e) {
                throw new TokenizerException(jinja + ": cannot read: " + e.getMessage(), e);
            }
        }
        for (String name : new String[]{"chat_template.json", "processor_config.json", HfTokenizer.CONFIG_FILE}) {
            Path file = modelDir.resolve(name);
            JsonNode root = name.equals(HfTokenizer.CONFIG_FILE) ? tokenizerConfig : readJson(file);
            String t = root == null ? null : templateField(root.get("chat_template"), file);
            if (t != null) return new ChatTemplate(t, file + " chat_template", tokens);
        }
        throw new TokenizerException(modelDir + ": no chat template (looked for chat_template.jinja, chat_template.json, "
                + "and a chat_template field in processor_config.json and tokenizer_config.json); use the raw prompt instead");
    }

    private static String templateField(JsonNode t, Path file) {
        if (t == null || t.isNull()) return null;
        if (t.isTextual()) return t.asText();
        if (t.isArray()) {                                  // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
            for (JsonNode e : t) if ("default".equals(e.path("name").asText())) return e.path("template").asText();
            throw new TokenizerException(file + ": chat_template is a list without a 'default' entry");
        }
        throw new TokenizerException(file + ": chat_template must be a string or a list of named templates");
    }

    private static JsonNode readJson(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new TokenizerException(file + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    /** {@code apply_chat_template(messages, add_generation_prompt=..., tokenize=False)}. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /** With extra template variables (e.g. {@code add_vision_id}, {@code tools}). */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> extra) {
        Map<String, Object> context = new HashMap<>(specialTokens);
        List<Object> msgs = new ArrayList<>();
        for (ChatMessage m : messages) msgs.add(m.toTemplateValue());
        context.put("messages", msgs);
        context.put("add_generation_prompt", addGenerationPrompt);
        context.putAll(extra);
        RenderBudget budget = RenderBudget.start();
        RenderResult result;
        try {
            result = jinjava.renderForResult(jinja2Whitespace(source), context);
        } catch (StackOverflowError e) {
            throw new TokenizerException(origin + ": rendering failed: the template nests too deeply (stack overflow)");
        } finally {
            RenderBudget.end();
        }
        if (budget.exceeded() != null) throw new TokenizerException(origin + ": rendering stopped: " + budget.exceeded());
        if (budget.firstError() != null) {
            TemplateError e = budget.firstError();
            throw new TokenizerException(origin + ": rendering failed at line " + e.getLineno() + ": " + raisedMessage(e));
        }
        for (TemplateError e : result.getErrors()) {
            // The first error Jinja2 would raise (Jinjava only warns where a macro recursed past the bound).
            if (RenderBudget.fatal(e)) {
                throw new TokenizerException(origin + ": rendering failed at line " + e.getLineno() + ": " + raisedMessage(e));
            }
        }
        return result.getOutput();
    }

    /** The template's own raise_exception message where there is one (Jinjava wraps it in "Error invoking function"). */
    private static String raisedMessage(TemplateError e) {
        for (Throwable t = e.getException(); t != null; t = t.getCause()) {
            if (t instanceof TokenizerException) return t.getMessage();
        }
        return e.getMessage() == null ? e.getReason().toString() : e.getMessage().replace('\n', ' ');
    }

    /** Applies Jinja2's lstrip_blocks to the source (Jinjava's own strips before mid-line tags too). */
    static String jinja2Whitespace(String template) {
        return LSTRIP.matcher(template).replaceAll("");
    }

    public String source() {
        return source;
    }

    /** transformers' {@code raise_exception(message)} global: rendering fails with the template's message. */
    public static String raiseException(String message) {
        throw new TokenizerException("the chat template raised: " + message);
    }

    /** Jinja2's {@code range} with the sandbox's bound, counted against the rendering's budget ({@link RenderBudget#range}). */
    public static List<Integer> range(Object first, Object... rest) {
        return RenderBudget.range(first, rest);
    }

    /** transformers' {@code strftime_now(format)}: the current local time in a Python strftime format. */
    public static String strftimeNow(String format) {
        ZonedDateTime now = ZonedDateTime.now();
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                b.append(c);
                continue;
            }
            char f = format.charAt(++i);
            b.append(switch (f) {
                case 'Y' -> String.valueOf(now.getYear());
                case 'm' -> String.format("%02d", now.getMonthValue());
                case 'd' -> String.format("%02d", now.getDayOfMonth());
                case 'H' -> String.format("%02d", now.getHour());
                case 'M' -> String.format("%02d", now.getMinute());
                case 'S' -> String.format("%02d", now.getSecond());
                case 'B' -> now.format(DateTimeFormatter.ofPattern("MMMM", java.util.Locale.ENGLISH));
                case 'b' -> now.format(DateTimeFormatter.ofPattern("MMM", java.util.Locale.ENGLISH));
                case 'A' -> now.format(DateTimeFormatter.ofPattern("EEEE", java.util.Locale.ENGLISH));
                case 'a' -> now.format(DateTimeFormatter.ofPattern("EEE", java.util.Locale.ENGLISH));
                case '%' -> "%";
                default -> "%" + f;
            });
        }
        return b.toString();
    }

    /** transformers' AssistantTracker tag: {@code {% generation %}...{% endgeneration %}} renders its body unchanged. */
    static final class GenerationTag implements Tag {
        @Override
        public String getName() {
            return "generation";
        }

        @Override
        public String getEndTagName() {
            return "endgeneration";
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            StringBuilder b = new StringBuilder();
            for (Node child : tagNode.getChildren()) b.append(child.render(interpreter).getValue());
            return b.toString();
        }
    }

    /**
     * transformers' {@code tojson}: {@code json.dumps(x, ensure_ascii=False, indent=indent)}, i.e. Python's
     * separators {@code ", "} and {@code ": "} and insertion order (Jinjava's own filter is compact).
     */
    static final class ToJsonFilter implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            Integer indent = args.length > 0 && args[0] != null && !args[0].isEmpty() ? Integer.valueOf(args[0].trim()) : null;
            StringBuilder b = new StringBuilder();
            write(var, indent, 0, b);
            return b.toString();
        }

        private static void write(Object v, Integer indent, int depth, StringBuilder b) {
            if (v == null) {
                b.append("null");
            } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long || v instanceof Short) {
                b.append(v);
            } else if (v instanceof Number n) {
                b.append(n.doubleValue());
            } else if (v instanceof Map<?, ?> m) {
                if (m.isEmpty()) {
                    b.append("{}");
                    return;
                }
                b.append('{');
                Iterator<? extends Map.Entry<?, ?>> it = m.entrySet().iterator();
                while (it.hasNext()) {
                    Map.Entry<?, ?> e = it.next();
                    newline(indent, depth + 1, b);
                    string(String.valueOf(e.getKey()), b);
                    b.append(": ");
                    write(e.getValue(), indent, depth + 1, b);
                    if (it.hasNext()) b.append(indent == null ? ", " : ",");
                }
                newline(indent, depth, b);
                b.append('}');
            } else if (v instanceof Iterable<?> list) {
                Iterator<?> it = list.iterator();
                if (!it.hasNext()) {
                    b.append("[]");
                    return;
                }
                b.append('[');
                while (it.hasNext()) {
                    newline(indent, depth + 1, b);
                    write(it.next(), indent, depth + 1, b);
                    if (it.hasNext()) b.append(indent == null ? ", " : ",");
                }
                newline(indent, depth, b);
                b.append(']');
            } else {
                string(String.valueOf(v), b);
            }
        }

        private static void newline(Integer indent, int depth, StringBuilder b) {
            if (indent == null) return;
            b.append('\n').append(" ".repeat(indent * depth));
        }

        private static void string(String s, StringBuilder b) {
            b.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> b.append("\\\"");
                    case '\\' -> b.append("\\\\");
                    case '\n' -> b.append("\\n");
                    case '\r' -> b.append("\\r");
                    case '\t' -> b.append("\\t");
                    case '\b' -> b.append("\\b");
                    case '\f' -> b.append("\\f");
                    default -> {
                        if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                        else b.append(c);
                    }
                }
            }
            b.append('"');
        }
    }

    /**
     * Jinja2's {@code striptags} ({@code Markup(value).striptags()}): comments and tags removed, whitespace runs
     * collapsed to one space, HTML entities unescaped. Jinjava's own renders the value as a template first.
     */
    static final class StripTagsFilter implements Filter {
        private static final Pattern COMMENTS = Pattern.compile("(?s)<!--.*?-->");
        private static final Pattern TAGS = Pattern.compile("(?s)<.*?>");

        @Override
        public String getName() {
            return "striptags";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            if (var == null) return "";
            String s = TAGS.matcher(COMMENTS.matcher(var.toString()).replaceAll("")).replaceAll("");
            s = String.join(" ", s.strip().split("\\s+"));
            return s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'")
                    .replace("&amp;", "&");
        }
    }
}
