package org.mha2mla.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

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

    /** Every file under {@code dir} with its bytes' hash: what must stay as it was. */
    static Map<String, Integer> snapshot(Path dir) throws IOException {
        Map<String, Integer> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) m.put(dir.relativize(p).toString(), Arrays.hashCode(Files.readAllBytes(p)));
        }
        return m;
    }

    /** A copy of the llava fixture: a user's model folder. */
    static Path userModel(Path where) throws IOException {
        Path dir = Files.createDirectories(where);
        try (Stream<Path> s = Files.list(MainTest.FIXTURES.resolve("llava"))) {
            for (Path f : s.toList()) Files.copy(f, dir.resolve(f.getFileName()));
        }
        return dir;
    }

    /** Numbers and sizes are refused before any work, each in one line naming the option (none of these was before). */
    @Test
    void numbersAndSizesAreRefusedUpFront() throws Exception {
        String model = MainTest.FIXTURES.resolve("llava").toString();
        String data = data().toString();
        String[][] cases = {
                {"--lr", "Infinity", "--lr must be a finite number greater than 0, got Infinity"},
                {"--lr", "NaN", "--lr must be a finite number greater than 0, got NaN"},
                {"--min-lr", "1", "--min-lr must be a finite number in [0, 1.0E-4], got 1"},
                {"--warmup", "2", "--warmup must be a finite number in [0, 1], got 2"},
                {"--max-grad-norm", "NaN", "--max-grad-norm must be a finite number of at least 0, got NaN"},
                {"--weight-decay", "Infinity", "--weight-decay must be a finite number of at least 0, got Infinity"},
                {"--steps", "0", "--steps must be at least 1, got 0"},
                {"--save-dtype", "I8", "--save-dtype I8: expected F32, F16 or BF16 (weights are floating point)"},
                {"--batch", "1000000", "--batch 1000000 is more than the 2 samples of " + data},
                {"--stage", "2", "--stage 2 trains the MLA parameters, but " + model + " is not an MLA model (an original model); "
                        + "convert it first with `mha2mla convert --step all`"}};
        for (String[] c : cases) {
            Path out = tmp.resolve("out" + c[0] + c[1]);
            List<String> args = new java.util.ArrayList<>(List.of("train", "--stage", "1", "--model", model, "--data", data,
                    "--out", out.toString(), "--steps", "2", "--no-progress"));
            if (c[0].equals("--stage") || c[0].equals("--steps")) args.set(args.indexOf(c[0]) + 1, c[1]);
            else args.addAll(List.of(c[0], c[1]));
            CliCapture.Result r = CliCapture.run(args.toArray(String[]::new));
            assertEquals(1, r.rc(), c[0] + " " + c[1] + ": " + r.err());
            assertEquals("mha2mla: " + c[2], r.err().strip(), c[0] + " " + c[1]);
            assertFalse(Files.exists(out), "nothing written for " + c[0] + " " + c[1]);
        }
        // A cap beyond the model's positions is lowered to them; one whose attention mask cannot exist is refused.
        Path longModel = userModel(tmp.resolve("long-context"));
        Files.writeString(longModel.resolve("config.json"), Files.readString(longModel.resolve("config.json"))
                .replace("\"max_position_embeddings\": 512", "\"max_position_embeddings\": 1000000"));
        CliCapture.Result r = CliCapture.run("train", "--stage", "1", "--model", longModel.toString(), "--data", data, "--out",
                tmp.resolve("l").toString(), "--max-length", "100000", "--no-progress");
        assertEquals(1, r.rc(), r.err());
        assertEquals("mha2mla: --batch 1 at --max-length 100000: an attention mask of 1 × 100000 × 100000 = 10,000,000,000 entries is "
                + "larger than a Java array (2,147,483,639); use fewer or shorter sequences", r.err().strip());
        r = CliCapture.run("train", "--stage", "1", "--model", model, "--data", data, "--out", tmp.resolve("u").toString(),
                "--lr", "fast");
        assertEquals(Main.USAGE, r.rc());
        assertEquals("mha2mla: Invalid value for option '--lr': 'fast' is not a double (see `mha2mla train --help`)", r.err().strip());
    }

    /**
     * --out at a user's model folder, or at a link to --model, is refused and the folder left byte for byte; with
     * --overwrite the old folder stays until the trained model is complete, and a stopped run resumes in the sibling.
     */
    @Test
    void trainNeverOverwritesAFolderItDidNotCreate() throws Exception {
        String data = data().toString();
        Path user = userModel(tmp.resolve("user-model"));
        Map<String, Integer> before = snapshot(user);
        String llava = MainTest.FIXTURES.resolve("llava").toString();
        CliCapture.Result r = CliCapture.run("train", "--stage", "1", "--model", llava, "--data", data, "--out", user.toString(),
                "--steps", "2", "--no-progress");
        assertEquals(1, r.rc());
        assertTrue(r.err().startsWith("mha2mla: --out " + user + " is not empty (case.json, chat_template.jinja, config.json, golden.safetensors, "),
                r.err());
        assertTrue(r.err().strip().endsWith("was not written by `mha2mla train`; choose another --out or pass --overwrite to replace it"), r.err());
        Path link = Files.createSymbolicLink(tmp.resolve("link"), user);
        r = CliCapture.run("train", "--stage", "1", "--model", user.toString(), "--data", data, "--out", link.toString(), "--steps", "2",
                "--overwrite", "--no-progress");
        assertEquals(1, r.rc());
        assertEquals("mha2mla: --out " + link + " is --model " + user + " (after resolving links: " + user.toRealPath() + "); choose another --out",
                r.err().strip());
        assertEquals(before, snapshot(user));

        // --overwrite, stopped after one of two updates: the user's folder is as it was; --resume finishes and replaces it.
        r = CliCapture.run("train", "--stage", "1", "--model", llava, "--data", data, "--out", user.toString(), "--steps", "2",
                "--stop-after", "1", "--overwrite", "--save-dtype", "F32", "--no-progress");
        assertEquals(0, r.rc(), r.err());
        assertEquals(before, snapshot(user));
        r = CliCapture.run("train", "--stage", "1", "--model", llava, "--data", data, "--out", user.toString(), "--steps", "2",
                "--overwrite", "--resume", "--save-dtype", "F32", "--no-progress");
        assertEquals(0, r.rc(), r.err());
        assertTrue(r.out().contains("resumed from"), r.out());
        assertFalse(Files.exists(user.resolve("golden.safetensors")), "replaced as a whole");
        assertEquals(3, Files.readAllLines(user.resolve("training/loss.csv")).size(), "header + updates 1 and 2");
        assertFalse(Files.exists(tmp.resolve(".user-model.mha2mla-partial")));
        // Now train's own folder: a new run without --resume is refused (its checkpoints), not overwritten.
        r = CliCapture.run("train", "--stage", "1", "--model", llava, "--data", data, "--out", user.toString(), "--steps", "2", "--no-progress");
        assertEquals(1, r.rc());
        assertTrue(r.err().contains("already holds a checkpoint: continue it with --resume"), r.err());
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
