package org.mha2mla.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.processor.ProcessedPrompt;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.nd4j.linalg.api.ndarray.INDArray;

/** {@code mha2mla init} end to end: the folder it writes is one every other command can load and run. */
class InitCommandTest {

    /** Each fixture config, initialised at random, loads as its model class and gives finite logits for an image prompt. */
    @Test
    void initialisedFixtureConfigsLoadAndRun(@TempDir Path tmp) {
        for (String family : new String[]{"llava", "llava_next", "qwen2_5_vl"}) {
            Path out = tmp.resolve(family);
            CliCapture.Result r = CliCapture.run("init", "--config", MainTest.FIXTURES.resolve(family).resolve("config.json").toString(),
                    "--out", out.toString(), "--seed", "5", "--no-progress");
            assertEquals(0, r.rc(), r.out() + r.err());
            assertTrue(r.out().startsWith("wrote " + out + ": " + family), r.out());
            assertTrue(r.out().contains("check: a 448×448 image becomes"), r.out());
            try (VlmProcessor processor = VlmProcessor.load(out); VisionLanguageModel model = VlmLoader.load(out)) {
                ProcessedPrompt p = processor.process(processor.userPrompt("What is in the image?", 1),
                        List.of(RgbImage.load(MainTest.FIXTURES.resolve(family).resolve("image0.png"))));
                INDArray logits = model.logits(MultimodalInput.of(p));
                assertArrayEquals(new long[]{p.length(), model.config().textConfig().vocabSize()}, logits.shape(), family);
                float[] v = logits.reshape(logits.length()).toFloatVector();
                double sq = 0;
                for (float x : v) {
                    assertTrue(Float.isFinite(x), family + ": non-finite logit");
                    sq += x * x;
                }
                assertTrue(sq > 0, family + ": all logits zero");
            }
        }
    }

    @Test
    void badInputIsOneLine(@TempDir Path tmp) throws IOException {
        String fixture = MainTest.FIXTURES.resolve("llava").resolve("config.json").toString();
        Path full = Files.createDirectories(tmp.resolve("full"));
        Files.writeString(full.resolve("keep.txt"), "keep");
        String[][] cases = {
                {"--config", "llava-9b", "--out", tmp.resolve("a").toString()},
                {"--config", fixture, "--out", tmp.resolve("b").toString(), "--dtype", "int4"},
                {"--config", fixture, "--out", tmp.resolve("c").toString(), "--shard-size", "big"},
                {"--config", fixture, "--out", full.toString()},
        };
        String[] expected = {"mha2mla: --config 'llava-9b': neither a bundled config", "mha2mla: --dtype 'int4'",
                "mha2mla: --shard-size 'big'", "mha2mla: --out " + full + " is not empty"};
        for (int i = 0; i < cases.length; i++) {
            String[] args = new String[cases[i].length + 2];
            args[0] = "init";
            System.arraycopy(cases[i], 0, args, 1, cases[i].length);
            args[args.length - 1] = "--no-progress";
            CliCapture.Result r = CliCapture.run(args);
            String err = r.err().strip();
            assertEquals(1, r.rc(), err);
            assertEquals(1, err.lines().count(), err);
            assertTrue(err.startsWith(expected[i]), err);
        }
        assertEquals("keep", Files.readString(full.resolve("keep.txt")));
        assertFalse(Files.exists(tmp.resolve("a")) || Files.exists(tmp.resolve("b")) || Files.exists(tmp.resolve("c")));
    }
}
