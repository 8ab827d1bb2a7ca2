package org.mha2mla.trainer.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.trainer.LossMask;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.mha2mla.fixtures.Fixtures;

/**
 * The encoder on the LLaVA fixture with its real tokenizer.json and chat_template.jinja (rendered as transformers
 * does with trim_blocks; jinjava's lstrip_blocks also eats spaces before mid-line tags, so it stays off): the prompt part of an encoded conversation must equal transformers'
 * processor output (golden c0.input_ids), and exactly the reply tokens must be labelled.
 */
class ChatExampleEncoderTest {

    private static Path fixture;
    private static HuggingFaceTokenizer tokenizer;
    private static long[] goldenIds;
    private static INDArray goldenPixels;
    private static LlavaFixtureProcessor shared;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() throws IOException, URISyntaxException {
        fixture = Fixtures.hf("llava");
        tokenizer = HuggingFaceTokenizer.newInstance(fixture.resolve("tokenizer.json"));
        try (SafeTensorsFile g = SafeTensorsFile.open(fixture.resolve("golden.safetensors"))) {
            goldenIds = g.readLongs("c0.input_ids");
            goldenPixels = g.readFloat32("c0.pixel_values");
        }
        shared = new LlavaFixtureProcessor(fixture);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
        shared.close();
    }

    /** {@link LlavaFixtureProcessor} (golden pixel values, "<image>" expanded to 16 tokens), for conversations with one image. */
    private static final class FixtureProcessor implements ChatExampleEncoder.Processor {
        @Override
        public ChatExampleEncoder.Images images(List<BufferedImage> images) {
            assertEquals(1, images.size());
            return shared.images(images);
        }

        @Override
        public long[] tokenize(String text, ChatExampleEncoder.Images images) {
            return shared.tokenize(text, images);
        }

        @Override
        public String render(List<LossMask.Message> messages, boolean addGenerationPrompt) {
            return shared.render(messages, addGenerationPrompt);
        }
    }

    private InstructSample sample(String image) {
        return new InstructSample("q1", image == null ? List.of() : List.of(image), List.of(
                new InstructSample.Turn("human", "<image>\nWhat is the color of the square?"),
                new InstructSample.Turn("gpt", "red")));
    }

    @Test
    void promptTokensEqualTransformersProcessorAndOnlyTheReplyIsLabelled() throws IOException {
        Files.copy(fixture.resolve("image0.png"), tmp.resolve("image0.png"));
        TrainingExample ex = new ChatExampleEncoder(new FixtureProcessor()).encode(sample("image0.png"), tmp);
        long[] ids = ex.input().inputIds();
        assertEquals(47, goldenIds.length);
        long[] prompt = java.util.Arrays.copyOf(ids, goldenIds.length);
        assertArrayEquals(goldenIds, prompt);                                   // "USER: <image>×16\nWhat ... ASSISTANT:"
        long[] reply = java.util.Arrays.copyOfRange(ids, goldenIds.length, ids.length);
        assertEquals("red</s>", tokenizer.decode(reply, false).strip());       // (decode drops the leading ▁)
        assertEquals(2, reply[reply.length - 1]);                               // </s> is learnt too
        for (int t = 0; t < ids.length; t++) {
            assertEquals(t < goldenIds.length ? LossMask.IGNORE_INDEX : ids[t], ex.labels()[t], "position " + t);
        }
        assertTrue(ex.input().hasImage());
        assertEquals(goldenPixels, ex.input().pixelValues());
    }

    @Test
    void imageCountMustMatchThePlaceholders() throws IOException {
        ChatExampleEncoder enc = new ChatExampleEncoder(new FixtureProcessor());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> enc.encode(sample(null), tmp));
        assertTrue(e.getMessage().contains("'q1' has 0 image(s) but 1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> enc.encode(sample("missing.png"), tmp));
    }
}
