package org.mha2mla.trainer.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.tokenizer.ChatMessage;
import org.mha2mla.trainer.LossMask;
import org.mha2mla.fixtures.Fixtures;

/**
 * A one-turn LLaVA-instruct sample with an image, encoded with the llava fixture's real processor: the ids are
 * the processor's own expansion of the rendered conversation, the prompt part is transformers' c0.input_ids,
 * and exactly the reply (with its </s>) is labelled.
 */
class ModelProcessorTest {

    @TempDir
    Path tmp;

    private static Path fixture() throws URISyntaxException {
        return Fixtures.hf("llava");
    }

    @Test
    void encodesAnInstructSampleAsTheProcessorDoes() throws Exception {
        Path dir = fixture();
        Files.copy(dir.resolve("image0.png"), tmp.resolve("image0.png"));
        InstructSample sample = new InstructSample("s1", List.of("image0.png"), List.of(
                new InstructSample.Turn("human", "<image>\nWhat is the color of the square?"),
                new InstructSample.Turn("gpt", "red")));
        try (ModelProcessor mp = ModelProcessor.load(dir); SafeTensorsFile g = SafeTensorsFile.open(dir.resolve("golden.safetensors"))) {
            TrainingExample ex = new ChatExampleEncoder(mp).encode(sample, tmp);

            String rendered = mp.render(sample.messages(), false);
            assertEquals("USER: <image>\nWhat is the color of the square? ASSISTANT: red</s>", rendered);
            long[] expected = mp.processor().process(rendered, List.of(RgbImage.load(dir.resolve("image0.png")))).inputIds();
            assertArrayEquals(expected, ex.input().inputIds());

            long[] prompt = g.readLongs("c0.input_ids");
            assertArrayEquals(prompt, Arrays.copyOf(ex.input().inputIds(), prompt.length));
            long[] labels = ex.labels();
            for (int t = 0; t < labels.length; t++) {
                assertEquals(t < prompt.length ? LossMask.IGNORE_INDEX : ex.input().inputIds()[t], labels[t], "position " + t);
            }
            long[] reply = Arrays.copyOfRange(ex.input().inputIds(), prompt.length, labels.length);
            assertEquals("red</s>", mp.processor().tokenizer().decode(reply, false).strip());
            double err = org.nd4j.linalg.ops.transforms.Transforms.abs(ex.input().pixelValues().sub(g.readFloat32("c0.pixel_values")))
                    .maxNumber().doubleValue();
            assertTrue(err < 1e-5, "pixel_values max abs err " + err);
        }
    }

    @Test
    void imageMarksBecomeImageParts() {
        List<ChatMessage.Part> p = ModelProcessor.parts("<image>\nWhat is it?");
        assertEquals(2, p.size());
        assertInstanceOf(ChatMessage.Image.class, p.get(0));
        assertEquals(new ChatMessage.Text("What is it?"), p.get(1));
        p = ModelProcessor.parts("Compare <image> and <image>");
        assertEquals(List.of(new ChatMessage.Text("Compare "), new ChatMessage.Image(), new ChatMessage.Text(" and "),
                new ChatMessage.Image()), p);
        assertEquals(List.of(new ChatMessage.Text("plain")), ModelProcessor.parts("plain"));
    }

    @Test
    void textOnlySamplesHaveNoPixels() throws Exception {
        InstructSample sample = new InstructSample("s2", List.of(), List.of(
                new InstructSample.Turn("human", "how many shapes are there?"), new InstructSample.Turn("gpt", "three")));
        try (ModelProcessor mp = ModelProcessor.load(fixture()); SafeTensorsFile g = SafeTensorsFile.open(fixture().resolve("golden.safetensors"))) {
            TrainingExample ex = new ChatExampleEncoder(mp).encode(sample, tmp);
            long[] prompt = g.readLongs("c1.input_ids");
            assertArrayEquals(prompt, Arrays.copyOf(ex.input().inputIds(), prompt.length));
            assertEquals(null, ex.input().pixelValues());
            assertTrue(ex.supervisedTokens() > 0);
        }
    }
}
