package org.mha2mla.trainer.data;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.trainer.LossMask;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * LlavaProcessor for the LLaVA fixture, as ChatExampleEncoderTest builds it: its tokenizer.json and chat template,
 * the golden pixel values for every image (the image processor is not under test), "&lt;image&gt;" expanded to 16 tokens.
 */
final class LlavaFixtureProcessor implements ChatExampleEncoder.Processor, AutoCloseable {

    static final int IMAGE_TOKENS = 16;
    private final HuggingFaceTokenizer tokenizer;
    private final String template;
    private final INDArray pixels;
    private final Jinjava jinja = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).build());

    LlavaFixtureProcessor(Path fixture) {
        try {
            tokenizer = HuggingFaceTokenizer.newInstance(fixture.resolve("tokenizer.json"));
            template = Files.readString(fixture.resolve("chat_template.jinja"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (SafeTensorsFile g = SafeTensorsFile.open(fixture.resolve("golden.safetensors"))) {
            pixels = g.readFloat32("c0.pixel_values");
        }
    }

    @Override
    public ChatExampleEncoder.Images images(List<BufferedImage> images) {
        INDArray[] copies = new INDArray[images.size()];
        for (int i = 0; i < copies.length; i++) copies[i] = pixels;
        return new ChatExampleEncoder.Images(org.nd4j.linalg.factory.Nd4j.concat(0, copies), null, null);
    }

    @Override
    public long[] tokenize(String text, ChatExampleEncoder.Images images) {
        String expanded = images.pixelValues() == null ? text : text.replace("<image>", "<image>".repeat(IMAGE_TOKENS));
        return tokenizer.encode(expanded).getIds();
    }

    @Override
    public String render(List<LossMask.Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> hf = new ArrayList<>();
        for (LossMask.Message m : messages) {
            List<Map<String, Object>> content = new ArrayList<>();
            String text = m.content();
            if (text.startsWith("<image>\n")) {
                content.add(Map.of("type", "image"));
                text = text.substring("<image>\n".length());
            }
            content.add(Map.of("type", "text", "text", text));
            hf.add(Map.of("role", m.role(), "content", content));
        }
        Map<String, Object> ctx = new HashMap<>();
        ctx.put("messages", hf);
        ctx.put("add_generation_prompt", addGenerationPrompt);
        return jinja.render(template, ctx);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
