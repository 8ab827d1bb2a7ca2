package org.mha2mla.evaluation.run;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import org.mha2mla.layers.MultimodalInput;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A {@link RequestEncoder} from a model folder's tokenizer.json and chat template, with the images handed to an
 * {@link ImageInputs} (the model's image processor): one user turn {@code [{"type": "image"} × n, {"type": "text",
 * "text": prompt}]} rendered with {@code add_generation_prompt=True}, each image placeholder in the rendered text
 * expanded to the number of tokens its features take (as LlavaProcessor / Qwen2_5_VLProcessor do), then
 * tokenized (tokenizer.json's post-processor adds BOS where the model has one).
 */
public final class ChatTemplateEncoder implements RequestEncoder, AutoCloseable {

    /** The image side of a processor. */
    public interface ImageInputs {
        /** The text each image becomes in the rendered prompt and is expanded from, e.g. {@code <image>}, {@code <|image_pad|>}. */
        String placeholder();

        /** Pixel tensors for the images, and how many placeholder tokens each takes. */
        Processed process(List<byte[]> images);
    }

    /**
     * @param pixelValues    as {@link MultimodalInput#pixelValues()}
     * @param tokensPerImage placeholder tokens per image after expansion
     * @param imageSizes     LLaVA-NeXT's [height, width] per image, else null
     * @param imageGridThw   Qwen2.5-VL's [t, h, w] per image, else null
     */
    public record Processed(INDArray pixelValues, int[] tokensPerImage, int[][] imageSizes, int[][] imageGridThw) {
    }

    private final HuggingFaceTokenizer tokenizer;
    private final String template;
    private final Map<String, Object> specialTokens;
    private final ImageInputs images;
    private final Jinjava jinja = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).build());

    /** @param images null for a text-only encoder (requests with images are then refused) */
    public ChatTemplateEncoder(HuggingFaceTokenizer tokenizer, String template, Map<String, Object> specialTokens, ImageInputs images) {
        this.tokenizer = tokenizer;
        this.template = template;
        this.specialTokens = Map.copyOf(specialTokens);
        this.images = images;
    }

    /**
     * Reads {@code dir}/tokenizer.json and the chat template ({@code chat_template.jinja}, else the
     * {@code chat_template} of chat_template.json or tokenizer_config.json); bos/eos/pad tokens from
     * tokenizer_config.json are template variables.
     */
    public static ChatTemplateEncoder load(Path dir, ImageInputs images) {
        Path tok = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(tok)) throw new IllegalArgumentException(dir + " has no tokenizer.json");
        try {
            JsonNode config = readJson(dir.resolve("tokenizer_config.json"));
            Map<String, Object> special = new HashMap<>();
            for (String k : List.of("bos_token", "eos_token", "pad_token", "unk_token")) {
                JsonNode v = config == null ? null : config.get(k);
                if (v != null && v.isTextual()) special.put(k, v.asText());
                if (v != null && v.isObject() && v.has("content")) special.put(k, v.get("content").asText());
            }
            String template = template(dir, config);
            // DJL defaults to truncation "longest_first" at modelMaxLength 512, which would silently cut prompts
            // (576 image tokens alone for LLaVA-1.5); a processor call in transformers neither truncates nor pads.
            HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.newInstance(tok, Map.of("truncation", "false", "padding", "false"));
            return new ChatTemplateEncoder(tokenizer, template, special, images);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the tokenizer of " + dir, e);
        }
    }

    private static String template(Path dir, JsonNode tokenizerConfig) throws IOException {
        Path jinja = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) return Files.readString(jinja);
        JsonNode chat = readJson(dir.resolve("chat_template.json"));
        if (chat != null && chat.path("chat_template").isTextual()) return chat.get("chat_template").asText();
        if (tokenizerConfig != null && tokenizerConfig.path("chat_template").isTextual()) return tokenizerConfig.get("chat_template").asText();
        throw new IllegalArgumentException(dir + " has no chat template (chat_template.jinja, chat_template.json or tokenizer_config.json)");
    }

    private static JsonNode readJson(Path file) throws IOException {
        return Files.isRegularFile(file) ? new ObjectMapper().readTree(file.toFile()) : null;
    }

    /** The prompt text after the chat template, before placeholder expansion. */
    public String render(String text, int imageCount) {
        List<Map<String, Object>> content = new ArrayList<>();
        for (int i = 0; i < imageCount; i++) content.add(Map.of("type", "image"));
        content.add(Map.of("type", "text", "text", text));
        Map<String, Object> ctx = new HashMap<>(specialTokens);
        ctx.put("messages", List.of(Map.of("role", "user", "content", content)));
        ctx.put("add_generation_prompt", true);
        return jinja.render(template, ctx);
    }

    @Override
    public MultimodalInput encode(String text, List<byte[]> imageBytes) {
        String prompt = render(text, imageBytes.size());
        if (imageBytes.isEmpty()) return MultimodalInput.text(tokenizer.encode(prompt).getIds());
        if (images == null) {
            throw new IllegalArgumentException("this request has " + imageBytes.size() + " image(s) but the encoder has no "
                    + "image processor (RequestEncoders.forModel)");
        }
        Processed p = images.process(imageBytes);
        String placeholder = images.placeholder();
        StringBuilder expanded = new StringBuilder();
        int from = 0;
        int k = 0;
        for (int at = prompt.indexOf(placeholder); at >= 0; at = prompt.indexOf(placeholder, from)) {
            if (k == p.tokensPerImage().length) break;
            expanded.append(prompt, from, at).append(placeholder.repeat(p.tokensPerImage()[k++]));
            from = at + placeholder.length();
        }
        if (k != imageBytes.size()) {
            throw new IllegalArgumentException("the chat template rendered " + k + " '" + placeholder + "' for "
                    + imageBytes.size() + " image(s): " + prompt);
        }
        expanded.append(prompt.substring(from));
        long[] ids = tokenizer.encode(expanded.toString()).getIds();
        return new MultimodalInput(ids, p.pixelValues(), p.imageSizes(), p.imageGridThw());
    }

    @Override
    public String decode(long[] ids) {
        return tokenizer.decode(ids, true);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
