package org.mha2mla.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.nd4j.linalg.api.ndarray.INDArray;

/** {@code mha2mla train} on the llava fixture with a two-sample LLaVA-instruct file, through the model's own processor. */
class TrainCommandTest {

    @TempDir
    Path tmp;

    private Path data() throws Exception {
        Path dir = MainTest.FIXTURES.resolve("llava");
        Files.copy(dir.resolve("image0.png"), tmp.resolve("image0.png"));
        Path f = tmp.resolve("instruct.json");
        Files.writeString(f, """
                [{"id": "a", "image": "image0.png", "conversations": [
                   {"from": "human", "value": "<image>\\nWhat is the color of the square?"}, {"from": "gpt", "value": "red"}]},
                 {"id": "b", "conversations": [
                   {"from": "human", "value": "how many shapes are there?"}, {"from": "gpt", "value": "three"}]}]
                """);
        return f;
    }

    private static INDArray tensor(Path dir, String key) {
        try (TensorSource t = KeyLayout.canonical(Checkpoint.open(dir), "llava")) {
            return t.get(key).castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).dup();
        }
    }

    @Test
    void stageOneTrainsOnlyQueryAndKeyProjectionsAndWritesALoadableFolder() throws Exception {
        Path model = MainTest.FIXTURES.resolve("llava");
        Path out = tmp.resolve("out");
        int rc = Main.run("train", "--stage", "1", "--model", model.toString(), "--data", data().toString(), "--out", out.toString(),
                "--steps", "3", "--lr", "1e-2", "--warmup", "0", "--save-dtype", "F32", "--no-progress");
        assertEquals(0, rc);

        String q = "language_model.model.layers.0.self_attn.q_proj.weight";
        String k = "language_model.model.layers.1.self_attn.k_proj.weight";
        assertNotEquals(tensor(model, q), tensor(out, q), "q_proj trains");
        assertNotEquals(tensor(model, k), tensor(out, k), "k_proj trains");
        for (String frozen : List.of("language_model.model.layers.0.self_attn.v_proj.weight",
                "language_model.model.layers.0.mlp.down_proj.weight", "language_model.model.embed_tokens.weight",
                "multi_modal_projector.linear_1.weight", "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight")) {
            assertEquals(tensor(model, frozen), tensor(out, frozen), frozen + " stays as loaded");
        }
        List<String> log = Files.readAllLines(out.resolve("training/loss.csv"));
        assertEquals(4, log.size(), "header + one row per update: " + log);
        assertTrue(Files.isRegularFile(out.resolve("training/loss_curve.png")));
        for (String f : List.of("config.json", "tokenizer.json", "preprocessor_config.json")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        // The output folder is a model the project loads again.
        assertEquals(0, Main.run("inspect", out.toString()));
    }

    @Test
    void aMissingDataFileIsOneLine() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int rc = Main.run("train", "--stage", "1", "--model", MainTest.FIXTURES.resolve("llava").toString(),
                    "--data", tmp.resolve("none.json").toString(), "--out", tmp.resolve("o").toString(), "--no-progress");
            assertEquals(1, rc);
        } finally {
            System.setErr(old);
        }
        String e = err.toString(StandardCharsets.UTF_8).strip();
        assertEquals(1, e.lines().count(), e);
        assertTrue(e.startsWith("mha2mla: ") && e.contains("none.json"), e);
    }
}
