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

/** Against transformers' LlavaProcessor output for the fixture's two cases (golden c0/c1). */
class ProcessorEncoderTest {

    @Test
    void textAndImageRequestsGiveTransformersInputs() {
        try (ProcessorEncoder enc = LlavaFixture.encoder(); SafeTensorsFile g = LlavaFixture.golden()) {
            // case c1: "USER: how many shapes are there? ASSISTANT:"
            assertEquals("USER: how many shapes are there? ASSISTANT:", enc.render("how many shapes are there?", 0));
            MultimodalInput text = enc.encode("how many shapes are there?", List.of());
            assertArrayEquals(g.readLongs("c1.input_ids"), text.inputIds());
            assertNull(text.pixelValues());
            // case c0: "USER: <image>\nWhat is the color of the square? ASSISTANT:", <image> expanded to 16 tokens
            MultimodalInput image = enc.encode("What is the color of the square?", List.of(LlavaFixture.image0()));
            assertArrayEquals(g.readLongs("c0.input_ids"), image.inputIds());
            double err = image.pixelValues().sub(g.readFloat32("c0.pixel_values")).amaxNumber().doubleValue();
            assertTrue(err < 1e-5, "pixel_values max abs error " + err);
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
        try (ProcessorEncoder enc = LlavaFixture.encoder(); SafeTensorsFile g = LlavaFixture.golden()) {
            for (int c = 0; c < 2; c++) {
                String withSpecials = cases.get(c).get("decoded_generation").asText();
                String expected = withSpecials.replace("\ufffd", "").replace("\u000b", "").replace("\u0015", "");
                assertEquals(expected, enc.decode(g.readLongs("c" + c + ".generated_ids")), "case " + c);
            }
        }
    }

    /** An LLaVA-1.5 prompt alone has 576 image tokens: nothing may truncate at DJL's default 512. */
    @Test
    void longPromptsAreNotTruncated() {
        try (ProcessorEncoder enc = LlavaFixture.encoder()) {
            String text = "how many shapes are there? ".repeat(100);
            MultimodalInput in = enc.encode(text, List.of(LlavaFixture.image0(), LlavaFixture.image0()));
            assertTrue(in.length() > 600, "ids " + in.length());
            long images = java.util.Arrays.stream(in.inputIds()).filter(id -> id == 3).count();
            assertEquals(2 * LlavaFixture.IMAGE_TOKENS, images);
            assertEquals(2, in.pixelValues().size(0));
        }
    }

    @Test
    void bytesThatAreNoImageAreRefusedByName() {
        try (ProcessorEncoder enc = LlavaFixture.encoder()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> enc.encode("q", List.of(new byte[]{1, 2, 3})));
            assertTrue(e.getMessage().contains("image 0 of the request"), e.getMessage());
        }
    }
}
