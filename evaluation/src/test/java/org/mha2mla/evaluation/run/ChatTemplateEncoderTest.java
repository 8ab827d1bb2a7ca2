package org.mha2mla.evaluation.run;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.MultimodalInput;

/** Against transformers' LlavaProcessor output for the fixture's two cases (golden c0/c1.input_ids). */
class ChatTemplateEncoderTest {

    @Test
    void textAndImageRequestsGiveTransformersIds() {
        try (ChatTemplateEncoder enc = LlavaFixture.encoder(); SafeTensorsFile g = LlavaFixture.golden()) {
            // case c1: "USER: how many shapes are there? ASSISTANT:"
            assertEquals("USER: how many shapes are there? ASSISTANT:", enc.render("how many shapes are there?", 0));
            MultimodalInput text = enc.encode("how many shapes are there?", List.of());
            assertArrayEquals(g.readLongs("c1.input_ids"), text.inputIds());
            assertNull(text.pixelValues());
            // case c0: "USER: <image>\nWhat is the color of the square? ASSISTANT:", <image> expanded to 16 tokens
            MultimodalInput image = enc.encode("What is the color of the square?", List.of(new byte[]{1}));
            assertArrayEquals(g.readLongs("c0.input_ids"), image.inputIds());
            assertEquals(g.readFloat32("c0.pixel_values"), image.pixelValues());
        }
    }

    /**
     * case.json's decoded_generation is transformers' decode of the golden greedy ids with the special tokens kept;
     * this tokenizer marks its byte-fallback tokens (&lt;0xC9&gt;, &lt;0x0B&gt;, …) special, so skipping them removes
     * exactly the characters they decode to (two U+FFFD, U+000B, U+0015 in case 0; none in case 1).
     */
    @Test
    void decodeMatchesTransformers() throws Exception {
        com.fasterxml.jackson.databind.JsonNode cases = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(LlavaFixture.dir().resolve("case.json").toFile()).get("cases");
        try (ChatTemplateEncoder enc = LlavaFixture.encoder(); SafeTensorsFile g = LlavaFixture.golden()) {
            assertEquals("yes. top t chart ", enc.decode(g.readLongs("c0.generated_ids")));
            for (int c = 0; c < 2; c++) {
                String withSpecials = cases.get(c).get("decoded_generation").asText();
                String expected = withSpecials.replace("\ufffd", "").replace("\u000b", "").replace("\u0015", "");
                assertEquals(expected, enc.decode(g.readLongs("c" + c + ".generated_ids")), "case " + c);
            }
        }
    }

    /** DJL would truncate at 512 tokens by default; an LLaVA-1.5 prompt alone has 576 image tokens. */
    @Test
    void longPromptsAreNotTruncated() {
        try (ChatTemplateEncoder enc = LlavaFixture.encoder()) {
            String text = "how many shapes are there? ".repeat(100);
            MultimodalInput in = enc.encode(text, List.of(new byte[]{1}, new byte[]{2}));
            assertTrue(in.length() > 600, "ids " + in.length());
            long images = java.util.Arrays.stream(in.inputIds()).filter(id -> id == 3).count();
            assertEquals(2 * LlavaFixture.IMAGE_TOKENS, images);
            assertEquals(2, in.pixelValues().size(0));
        }
    }

    @Test
    void imagesWithoutAnImageProcessorAreRefused() {
        try (ChatTemplateEncoder enc = ChatTemplateEncoder.load(LlavaFixture.dir(), null)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> enc.encode("q", List.of(new byte[]{1})));
            assertTrue(e.getMessage().contains("1 image(s)"), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ChatTemplateEncoder.load(LlavaFixture.dir().resolve("missing"), null));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
    }
}
