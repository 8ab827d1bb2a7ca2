package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.trainer.data.ExampleEncoder;

class TrainerTest {

    @TempDir
    Path tmp;

    private static final PrintStream QUIET = new PrintStream(java.io.OutputStream.nullOutputStream());

    /** Records c0 / c1 of the llava fixture's golden processor output, the last tokens labelled. */
    private static final ExampleEncoder GOLDEN = (sample, root) -> GoldenExamples.example("llava", sample.id().split("#")[0], 8);

    private Path data() throws IOException {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < 5; i++) {
            String c = i % 2 == 0 ? "c0" : "c1";
            if (i > 0) sb.append(',');
            sb.append("{\"id\": \"").append(c).append('#').append(i).append("\", \"image\": \"image0.png\", \"conversations\": [")
                    .append("{\"from\": \"human\", \"value\": \"<image>\\nq\"}, {\"from\": \"gpt\", \"value\": \"a\"}]}");
        }
        Path f = tmp.resolve("data.json");
        Files.writeString(f, sb.append(']').toString());
        return f;
    }

    private TrainOptions.Builder options(String out) throws IOException {
        return TrainOptions.builder(1, TestFixtures.dir("llava"), data(), tmp.resolve(out))
                .steps(6).lr(5e-3).gradAccumulation(2).checkpointEvery(2).weightDecay(0.01).saveDtype(DType.F32).progress(false);
    }

    @Test
    void stoppingAndResumingReproducesTheUninterruptedRun() throws IOException {
        Trainer.Result whole = Trainer.run(options("whole").build(), GOLDEN, QUIET);
        assertEquals(6, whole.rows().size());
        assertTrue(whole.finished());

        Trainer.Result first = Trainer.run(options("split").stopAfter(3).build(), GOLDEN, QUIET);
        assertEquals(3, first.step());
        assertFalse(first.finished());
        assertFalse(Files.exists(tmp.resolve("split/model.safetensors")));
        Trainer.Result second = Trainer.run(options("split").resume(true).build(), GOLDEN, QUIET);
        assertEquals(6, second.step());
        assertTrue(second.finished());

        List<LossLog.Row> split = new ArrayList<>(first.rows());
        split.addAll(second.rows());
        for (int i = 0; i < 6; i++) {
            assertEquals(whole.rows().get(i).step(), split.get(i).step());
            assertEquals(whole.rows().get(i).loss(), split.get(i).loss(), 1e-6, "loss of step " + (i + 1));
            assertEquals(whole.rows().get(i).lr(), split.get(i).lr(), 0);
            assertEquals(whole.rows().get(i).gradNorm(), split.get(i).gradNorm(), 1e-6);
            assertEquals(whole.rows().get(i).tokens(), split.get(i).tokens());
        }
        assertEquals(whole.data(), second.data());
        // The resumed log holds all 6 steps with the same losses.
        List<String> a = Files.readAllLines(tmp.resolve("whole/training/loss.csv"));
        List<String> b = Files.readAllLines(tmp.resolve("split/training/loss.csv"));
        assertEquals(7, b.size());
        for (int i = 1; i < 7; i++) assertEquals(a.get(i).split(",")[1], b.get(i).split(",")[1]);
        // Weights: bitwise equal.
        try (SafeTensorsFile fa = SafeTensorsFile.open(tmp.resolve("whole/model.safetensors"));
             SafeTensorsFile fb = SafeTensorsFile.open(tmp.resolve("split/model.safetensors"))) {
            assertEquals(fa.names(), fb.names());
            for (String n : fa.names()) {
                assertArrayEquals(fa.readFloat32(n).data().asFloat(), fb.readFloat32(n).data().asFloat(), 0f, n);
            }
        }
    }

    /** Without a progress bar the run still tells its losses: one line with the first and last of them and the log's path. */
    @Test
    void aRunWithoutTheProgressBarPrintsItsLosses() throws IOException {
        TrainOptions o = options("summary").steps(3).build();
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        Trainer.Result r = Trainer.run(o, GOLDEN, new PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8));
        String printed = bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
        List<LossLog.Row> rows = r.rows();
        assertEquals(3, rows.size());
        String line = printed.lines().filter(l -> l.startsWith("stage1: updates ")).findFirst().orElseThrow(() -> new AssertionError(printed));
        assertTrue(line.startsWith(String.format(java.util.Locale.ROOT, "stage1: updates 1–3, loss %.4f → %.4f, last gradient norm %.3g, ",
                rows.get(0).loss(), rows.get(2).loss(), rows.get(2).gradNorm())), line);
        assertTrue(line.endsWith("; every update in " + o.trainingDir().resolve("loss.csv")), line);
        List<String> csv = Files.readAllLines(o.trainingDir().resolve("loss.csv"));
        assertEquals(4, csv.size(), "a header and the 3 updates the line summarises");
    }

    @Test
    void theOutputIsAModelFolderLoadableLikeTheInput() throws IOException {
        TrainOptions o = options("out").steps(3).build();
        Trainer.Result r = Trainer.run(o, GOLDEN, QUIET);
        assertTrue(r.summary().startsWith("stage1: trainable 24,576 / total"), r.summary());
        Path out = o.out();
        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                "preprocessor_config.json", "processor_config.json", "model.safetensors")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        for (String f : List.of("loss.csv", "loss_curve.png", "options.json", "checkpoints/latest", "checkpoints/step-00000002",
                "checkpoints/step-00000003")) {
            assertTrue(Files.exists(o.trainingDir().resolve(f)), f);
        }
        int trained = 0;
        try (TensorSource in = KeyLayout.canonical(Checkpoint.open(o.model()), "llava");
             Checkpoint outCkpt = Checkpoint.open(out)) {
            assertEquals(in.names(), outCkpt.names());
            for (String n : in.names()) {
                boolean same = java.util.Arrays.equals(in.get(n).data().asFloat(), outCkpt.get(n).data().asFloat());
                if (FreezeMask.stage1().isTrainable(n)) {
                    assertFalse(same, n);
                    trained++;
                } else {
                    assertTrue(same, n + " is frozen but differs");
                }
            }
        }
        assertEquals(6, trained);
        try (VisionLanguageModel m = VlmLoader.load(out)) {
            assertEquals(3, m.generate(GoldenExamples.example("llava", "c1", 1).input(), 3, false).length);
        }
    }

    @Test
    void refusesToOverwriteOrResumeWithChangedOptions() throws IOException {
        Trainer.run(options("run").steps(4).stopAfter(2).build(), GOLDEN, QUIET);
        assertThrows(IllegalStateException.class, () -> Trainer.run(options("run").steps(4).build(), GOLDEN, QUIET));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Trainer.run(options("run").steps(4).lr(1e-3).resume(true).build(), GOLDEN, QUIET));
        assertTrue(e.getMessage().contains("LR schedule"), e.getMessage());
    }
}
