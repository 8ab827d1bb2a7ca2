package org.mha2mla.importers.processor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.HfFixtures;
import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.image.ImageException;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.tokenizer.TokenizerException;

class VlmProcessorTest {

    @TempDir
    Path tmp;

    @Test
    void loadsTheProcessorOfTheModelType() {
        try (VlmProcessor a = VlmProcessor.load(HfFixtures.dir("llava"));
             VlmProcessor b = VlmProcessor.load(HfFixtures.dir("llava_next"));
             VlmProcessor c = VlmProcessor.load(HfFixtures.dir("qwen2_5_vl"))) {
            assertInstanceOf(LlavaProcessor.class, a);
            assertInstanceOf(LlavaNextProcessor.class, b);
            assertInstanceOf(Qwen25VlProcessor.class, c);
        }
    }

    @Test
    void userPromptThroughTheChatTemplateEqualsTheCasePrompt() {
        for (String name : HfFixtures.NAMES) {
            try (VlmProcessor p = VlmProcessor.load(HfFixtures.dir(name))) {
                assertEquals(HfFixtures.testCase(name, 0).get("prompt").asText(), p.userPrompt("What is the color of the square?", 1), name);
            }
        }
    }

    @Test
    void placeholderAndImageCountsMustAgree() {
        Path dir = HfFixtures.dir("llava");
        try (VlmProcessor p = VlmProcessor.load(dir)) {
            RgbImage img = RgbImage.load(dir.resolve("image0.png"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.process("USER: hi ASSISTANT:", List.of(img)));
            assertTrue(e.getMessage().contains("0 image placeholder(s) <image> but 1 image(s)"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> p.process("USER: <image>\n<image>\nhi", List.of(img)));
        }
    }

    @Test
    void brokenFoldersFailClearly() throws IOException {
        Path dir = HfFixtures.copy("llava", tmp);
        Files.delete(dir.resolve("tokenizer.json"));
        TokenizerException t = assertThrows(TokenizerException.class, () -> VlmProcessor.load(dir));
        assertTrue(t.getMessage().contains("tokenizer.json"), t.getMessage());

        Path next = HfFixtures.copy("llava_next", tmp);
        Path cfg = next.resolve("config.json");
        Files.writeString(cfg, Files.readString(cfg).replace("\"image_token_index\": 3", "\"image_token_index\": 5"));
        ConfigException c = assertThrows(ConfigException.class, () -> VlmProcessor.load(next));
        assertTrue(c.getMessage().contains("image token id is 5") && c.getMessage().contains("<image> to 3"), c.getMessage());

        Path corrupt = Files.write(tmp.resolve("broken.png"), new byte[]{(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0});
        ImageException i = assertThrows(ImageException.class, () -> RgbImage.load(corrupt));
        assertTrue(i.getMessage().contains("broken.png"), i.getMessage());
    }

    @Test
    void rawPromptsWorkWithoutAChatTemplate() throws IOException {
        Path dir = HfFixtures.copy("llava", tmp);
        Files.delete(dir.resolve("chat_template.jinja"));
        try (VlmProcessor p = VlmProcessor.load(dir)) {
            assertEquals(26, p.process(HfFixtures.testCase("llava", 1).get("prompt").asText(), List.of()).length());
            TokenizerException e = assertThrows(TokenizerException.class, () -> p.userPrompt("hi", 0));
            assertTrue(e.getMessage().contains("no chat template"), e.getMessage());
        }
    }
}
