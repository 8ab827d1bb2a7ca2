package org.mha2mla.trainer.pretrain;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import javax.imageio.ImageIO;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.trainer.data.ModelProcessor;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.trainer.AdamW;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Pretraining on a tiny model and a hand-made task (one square on a 56×56 picture: "What color is the square?"):
 * the backward pass of the whole graph against finite differences, and a short run whose loss falls.
 */
class PretrainerTest {

    static final List<String> WORDS = List.of("what", "color", "is", "the", "square", "?", "user", "assistant", "red", "blue");
    static final ScratchModel.Spec TINY = new ScratchModel.Spec(64, 96, 2, 2, 1, new int[] {4, 6, 6}, 10.0, 32, 48, 2, 1, List.of(1), 112, 0.02);

    @TempDir
    static Path tmp;
    static Path model;
    static Path data;
    static ModelProcessor processor;

    @BeforeAll
    static void setUp() throws Exception {
        WordLevelTokenizer tokenizer = WordLevelTokenizer.of(WORDS);
        model = tmp.resolve("init");
        ScratchModel.write(model, TINY, tokenizer, ScratchModel.initialWeights(TINY, tokenizer.size(), 7));
        data = writeData(tmp.resolve("data"), 8);
        processor = ModelProcessor.load(model);
    }

    @AfterAll
    static void tearDown() {
        processor.close();
    }

    /** {@code n} pictures, each one red or blue square at a cell of a 2×2 grid, with its colour question. */
    static Path writeData(Path dir, int n) throws Exception {
        Files.createDirectories(dir);
        ObjectMapper om = new ObjectMapper();
        ArrayNode records = om.createArrayNode();
        for (int i = 0; i < n; i++) {
            BufferedImage img = new BufferedImage(56, 56, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = img.createGraphics();
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, 56, 56);
            boolean red = i % 2 == 0;
            g.setColor(red ? new Color(220, 30, 30) : new Color(30, 70, 220));
            g.fillRect(28 * ((i / 2) % 2) + 4, 28 * ((i / 4) % 2) + 4, 20, 20);
            g.dispose();
            ImageIO.write(img, "png", dir.resolve(i + ".png").toFile());
            ObjectNode r = records.addObject();
            r.put("id", "s" + i).put("image", i + ".png");
            ArrayNode conv = r.putArray("conversations");
            conv.addObject().put("from", "human").put("value", "<image>\nWhat color is the square?");
            conv.addObject().put("from", "gpt").put("value", red ? "red" : "blue");
        }
        Path json = dir.resolve("train.json");
        om.writeValue(json.toFile(), records);
        return json;
    }

    /**
     * Central differences of the loss along the gradient, restricted to one group of parameters g_S:
     * (L(θ + ε g_S) − L(θ − ε g_S)) / 2ε = ‖g_S‖². Run for the vision tower and merger, and for the decoder.
     */
    @Test
    void gradientOfVisionTowerAndDecoderMatchesFiniteDifferences() {
        Pretrainer p = new Pretrainer(model, processor);
        Pretrainer.Batch b = p.batch(p.encode(data, 256, 1).subList(0, 4));
        double loss = p.accumulate(b);
        assertEquals(loss, p.loss(b), 1e-5);
        for (String group : List.of("visual.", "model.")) {
            Map<String, INDArray> g = new HashMap<>();
            double gg = 0;
            for (String n : p.parameters()) {
                if (!n.startsWith(group)) continue;
                INDArray gn = p.gradients().get(n).dup();
                g.put(n, gn);
                double norm = gn.norm2Number().doubleValue();
                gg += norm * norm;
            }
            assertTrue(gg > 0, group + " has no gradient");
            double eps = 1e-2 / Math.sqrt(gg) / Math.max(1, Math.sqrt(gg));
            Map<String, INDArray> saved = new HashMap<>();
            g.keySet().forEach(n -> saved.put(n, p.params().get(n).dup()));
            g.forEach((n, gn) -> p.params().get(n).addi(gn.mul(eps)));
            double plus = p.loss(b);
            g.forEach((n, gn) -> p.params().get(n).assign(saved.get(n)).subi(gn.mul(eps)));
            double minus = p.loss(b);
            g.forEach((n, gn) -> p.params().get(n).assign(saved.get(n)));
            double directional = (plus - minus) / (2 * eps);
            System.out.printf("gradient check %s: ‖g‖² %.6e, finite difference %.6e%n", group, gg, directional);
            assertEquals(gg, directional, 0.02 * gg, group + ": ‖g‖² " + gg + " vs finite difference " + directional);
        }
    }

    @Test
    void aShortRunLowersTheLossAndWritesALoadableFolder() throws Exception {
        Pretrainer p = new Pretrainer(model, processor);
        Path out = tmp.resolve("trained");
        Pretrainer.Options o = new Pretrainer.Options(model, data, out, tmp.resolve("loss.csv"), tmp.resolve("loss.png"),
                30, 4, 3e-3, 3e-4, 0.1, AdamW.Config.defaults(0.0), 1.0, 3, 256, false, null);
        Pretrainer.Result r = p.run(o, new PrintStream(java.io.OutputStream.nullOutputStream()));
        double first = r.rows().get(0).loss();
        double last = r.finalLoss();
        System.out.printf("pretraining loss %.4f → %.4f in %d steps%n", first, last, r.rows().size());
        assertEquals(30, r.rows().size());
        assertTrue(last < 0.5 * first, "loss " + first + " → " + last);
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")) && Files.isRegularFile(out.resolve("tokenizer.json"))
                && Files.isRegularFile(tmp.resolve("loss.png")));
        assertEquals(31, Files.readAllLines(tmp.resolve("loss.csv")).size());

        // The golden file of the trained weights, computed by the training graph, against the saved folder loaded anew.
        MultimodalInput prompt = processor.prompt("What color is the square?", ImageIO.read(data.resolveSibling("1.png").toFile()));
        Path golden = out.resolve("golden.safetensors");
        p.writeGolden(golden, List.of(prompt), 3);
        try (VisionLanguageModel loaded = VlmLoader.load(out); SafeTensorsFile g = SafeTensorsFile.open(golden)) {
            double err = loaded.logits(prompt).sub(g.readFloat32("c0.logits")).amaxNumber().doubleValue();
            System.out.printf("trained model: training-graph logits vs loaded folder %.3e%n", err);
            assertTrue(err <= 1e-5, "logits differ by " + err);
            long[] ids = g.readLongs("c0.generated_ids");
            assertArrayEquals(ids, loaded.generate(prompt, ids.length, true));
            assertArrayEquals(prompt.inputIds(), g.readLongs("c0.input_ids"));
        }
    }

    @Test
    void aBudgetFitsTheUpdatesToTheTimeLeftInMultiplesOf25() {
        // 842 s left after 20 updates at 1.35 s each, 240 updates' worth of work afterwards: 20 + 623.7 − 240 = 403.7 → 400.
        assertEquals(400, Pretrainer.Budget.fit(500, 25, 20, 1.35, 842, 240));
        // At 1.1 s/update 545 would fit: the setting's 500 is the most.
        assertEquals(500, Pretrainer.Budget.fit(500, 25, 20, 1.1, 842, 240));
        // No time left: one granule after the decision, or twice the warmup if that is longer.
        assertEquals(45, Pretrainer.Budget.fit(500, 6, 20, 1.0, 10, 240));
        assertEquals(50, Pretrainer.Budget.fit(500, 25, 20, 1.0, -5, 240));
        // Decided at update 40, then re-measured every 50.
        assertEquals(List.of(40, 90, 140), java.util.stream.IntStream.range(0, 160).filter(Pretrainer.Budget::decides).boxed().toList());
    }

    @Test
    void aRunPastItsDeadlineEndsTheCosineEarlyAndKeepsTheWarmup() {
        Pretrainer p = new Pretrainer(model, processor);
        Path out = tmp.resolve("budgeted");
        // The deadline has passed before the run starts: after the 40 timed updates the run plans 40 + 25 = 65 of 80.
        Pretrainer.Options o = new Pretrainer.Options(model, data, out, tmp.resolve("budget-loss.csv"), tmp.resolve("budget-loss.png"),
                80, 2, 3e-3, 3e-4, 0.1, AdamW.Config.defaults(0.0), 1.0, 3, 256, false, new Pretrainer.Budget(System.nanoTime(), 0));
        Pretrainer.Result r = p.run(o, new PrintStream(java.io.OutputStream.nullOutputStream()));
        assertEquals(65, r.steps());
        assertTrue(r.budgetSecondsPerUpdate() > 0, "measured " + r.budgetSecondsPerUpdate());
        for (int i = 0; i < Pretrainer.Budget.DECIDE_AFTER; i++) {
            assertEquals(o.schedule().lr(i), r.rows().get(i).lr(), 1e-12, "update " + (i + 1) + " follows the 80-update schedule");
        }
        for (int i = Pretrainer.Budget.DECIDE_AFTER; i < 65; i++) {
            assertEquals(o.schedule(65).lr(i), r.rows().get(i).lr(), 1e-12, "update " + (i + 1) + " follows the 65-update cosine");
        }
        assertEquals(o.minLr(), r.rows().get(64).lr(), 1e-12, "the last update is at the floor of the cosine");
        assertTrue(o.schedule(65).lr(64) < o.schedule().lr(64) - 1e-4, "the cut cosine is lower at update 65");
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
    }

    @Test
    void twoReplicasComputeTheOneGraphsUpdate() {
        Pretrainer one = new Pretrainer(model, processor);
        Pretrainer two = new Pretrainer(model, processor, 2);
        List<Pretrainer.Example> examples = one.encode(data, 256, 1).subList(0, 5);   // shards of 2 and 3 examples
        double single = one.accumulate(one.batch(examples));
        Pretrainer.Gradients split = two.gradients(examples);
        assertEquals(single, split.loss(), 1e-6);
        assertEquals(examples.stream().mapToInt(e -> e.ids().length).sum(), split.tokens());
        for (String n : one.parameters()) {
            INDArray a = one.gradients().get(n);
            double err = a.sub(two.gradients().get(n)).norm2Number().doubleValue() / Math.max(1e-12, a.norm2Number().doubleValue());
            assertTrue(err < 1e-5, n + ": relative difference " + err);
        }
        // After an update the replica holds the updated weights, bit for bit.
        two.step(examples, new AdamW(AdamW.Config.defaults(0.0), two.shapes()), 1e-3, 1.0);
        Pretrainer replica = two.replicas().get(0);
        for (String n : two.parameters()) {
            assertEquals(two.params().get(n), replica.params().get(n), n);
            assertTrue(two.params().get(n) != replica.params().get(n), n + " is a copy, not the same array");
        }
    }

    @Test
    void anUpdateWithANonFiniteGradientIsSkipped() {
        Pretrainer two = new Pretrainer(model, processor, 2);
        List<Pretrainer.Example> examples = two.encode(data, 256, 1).subList(0, 3);
        String poisoned = two.parameters().get(0);
        two.params().get(poisoned).putScalar(0L, Float.NaN);
        two.replicas().get(0).params().get(poisoned).putScalar(0L, Float.NaN);
        Map<String, float[]> before = new HashMap<>();
        two.params().forEach((n, p) -> before.put(n, p.dup().data().asFloat()));
        Pretrainer.StepResult r = two.step(examples, new AdamW(AdamW.Config.defaults(0.0), two.shapes()), 1e-3, 1.0);
        assertTrue(Double.isNaN(r.gradNorm()) && r.nonFinite().contains(poisoned), r.toString());
        for (String n : two.parameters()) {
            assertArrayEquals(before.get(n), two.params().get(n).data().asFloat(), n + " changed although the update was skipped");
            assertArrayEquals(before.get(n), two.replicas().get(0).params().get(n).data().asFloat(), n + " changed in the replica");
        }
    }
}
