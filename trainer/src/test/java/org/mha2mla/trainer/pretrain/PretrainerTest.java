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
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.trainer.AdamW;
import org.mha2mla.trainer.FreezeMask;
import org.mha2mla.trainer.GradientSource;
import org.mha2mla.trainer.PeftStage;
import org.mha2mla.trainer.data.EncodedExamples;
import org.mha2mla.trainer.data.ModelProcessor;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Pretraining on a tiny model and a hand-made task (one square on a 56×56 picture: "What color is the square?"):
 * the backward pass of the whole graph against finite differences, a short run whose loss falls and whose saved folder
 * reproduces the training graph, and the two-replica source against the one graph.
 */
class PretrainerTest {

    static final List<String> WORDS = List.of("what", "color", "is", "the", "square", "?", "user", "assistant", "red", "blue");
    static final ScratchModel.Spec TINY = ScratchModel.Spec.builder().hidden(64).intermediate(96).layers(2).heads(2).kvHeads(1).mropeSection(4, 6, 6).ropeTheta(10.0)
            .visionHidden(32).visionIntermediate(48).visionDepth(2).visionHeads(1).fullattBlockIndexes(List.of(1)).windowSize(112).initializerRange(0.02).build();

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

    /** {@code n} encoded examples of the test data, in the pretraining's order for seed 1. */
    static List<TrainingExample> examples(int n) {
        int imageToken = org.mha2mla.importers.config.HfConfigParser.read(model).imageTokenId();
        EncodedExamples all = EncodedExamples.encode(data, processor, 256, imageToken, 1);
        List<TrainingExample> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(all.next());
        return out;
    }

    private static PeftStage stage(Pretrainer p, double maxGradNorm) {
        return new PeftStage(p.source(), FreezeMask.all(), AdamW.Config.defaults(0.0), maxGradNorm);
    }

    /**
     * Central differences of the loss along the gradient, restricted to one group of parameters g_S:
     * (L(θ + ε g_S) − L(θ − ε g_S)) / 2ε = ‖g_S‖². Run for the vision tower and merger, and for the decoder.
     */
    @Test
    void gradientOfVisionTowerAndDecoderMatchesFiniteDifferences() {
        Pretrainer p = new Pretrainer(model, processor);
        PeftStage stage = stage(p, 0);
        List<GradientSource.Batch> b = List.of(stage.batch(examples(4)));
        double loss = stage.accumulateGradients(b);
        assertEquals(loss, stage.loss(b), 1e-5);
        Map<String, INDArray> params = stage.trainableParams();
        for (String group : List.of("visual.", "model.")) {
            Map<String, INDArray> g = new HashMap<>();
            double gg = 0;
            for (String n : p.parameters()) {
                if (!n.startsWith(group)) continue;
                INDArray gn = stage.gradients().get(n).dup();
                g.put(n, gn);
                double norm = gn.norm2Number().doubleValue();
                gg += norm * norm;
            }
            assertTrue(gg > 0, group + " has no gradient");
            double eps = 1e-2 / Math.sqrt(gg) / Math.max(1, Math.sqrt(gg));
            Map<String, INDArray> saved = new HashMap<>();
            g.keySet().forEach(n -> saved.put(n, params.get(n).dup()));
            g.forEach((n, gn) -> params.get(n).addi(gn.mul(eps)));
            double plus = stage.loss(b);
            g.forEach((n, gn) -> params.get(n).assign(saved.get(n)).subi(gn.mul(eps)));
            double minus = stage.loss(b);
            g.forEach((n, gn) -> params.get(n).assign(saved.get(n)));
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
        for (int i = 0; i < 30; i++) assertEquals(o.schedule().lr(i), r.rows().get(i).lr(), 1e-12, "update " + (i + 1));

        // The training graph's logits of the trained weights against the saved folder loaded anew by the inference path.
        MultimodalInput prompt = processor.prompt("What color is the square?", ImageIO.read(data.resolveSibling("1.png").toFile()));
        INDArray trained = p.logits(prompt);
        try (VisionLanguageModel loaded = VlmLoader.load(out)) {
            double err = loaded.logits(prompt).sub(trained).amaxNumber().doubleValue();
            System.out.printf("trained model: training-graph logits vs loaded folder %.3e%n", err);
            assertTrue(err <= 1e-5, "logits differ by " + err);
            long next = trained.getRow(trained.rows() - 1).argMax().getLong(0);
            assertEquals(next, loaded.generate(prompt, 1, false)[0]);
        }
    }

    @Test
    void twoReplicasComputeTheOneGraphsUpdate() {
        Pretrainer one = new Pretrainer(model, processor);
        Pretrainer two = new Pretrainer(model, processor, 2);
        List<TrainingExample> examples = examples(5);                   // shards of 2 and 3 examples
        PeftStage single = stage(one, 1.0);
        PeftStage split = stage(two, 1.0);
        GradientSource.Batch b1 = single.batch(examples);
        GradientSource.Batch b2 = split.batch(examples);
        assertEquals(single.accumulateGradients(List.of(b1)), split.accumulateGradients(List.of(b2)), 1e-6);
        assertEquals(examples.stream().mapToInt(TrainingExample::length).sum(), b2.tokens());
        for (String n : one.parameters()) {
            INDArray a = single.gradients().get(n);
            double err = a.sub(split.gradients().get(n)).norm2Number().doubleValue() / Math.max(1e-12, a.norm2Number().doubleValue());
            assertTrue(err < 1e-5, n + ": relative difference " + err);
        }
        // After an update the replica holds the updated weights, bit for bit.
        split.step(List.of(b2), 1e-3);
        Map<String, INDArray> master = two.source().trainable();
        Map<String, INDArray> replica = two.source().replicas().get(1).trainable();
        for (String n : two.parameters()) {
            assertEquals(master.get(n), replica.get(n), n);
            assertTrue(master.get(n) != replica.get(n), n + " is a copy, not the same array");
        }
    }

    @Test
    void anUpdateWithANonFiniteGradientIsSkipped() {
        Pretrainer two = new Pretrainer(model, processor, 2);
        PeftStage stage = stage(two, 1.0);
        GradientSource.Batch b = stage.batch(examples(3));
        String poisoned = two.parameters().get(0);
        Map<String, INDArray> master = two.source().trainable();
        Map<String, INDArray> replica = two.source().replicas().get(1).trainable();
        master.get(poisoned).putScalar(0L, Float.NaN);
        replica.get(poisoned).putScalar(0L, Float.NaN);
        Map<String, float[]> before = new HashMap<>();
        master.forEach((n, p) -> before.put(n, p.dup().data().asFloat()));
        PeftStage.StepResult r = stage.step(List.of(b), 1e-3);
        assertTrue(Double.isNaN(r.gradNorm()) && r.nonFinite().contains(poisoned), r.toString());
        for (String n : two.parameters()) {
            assertArrayEquals(before.get(n), master.get(n).data().asFloat(), n + " changed although the update was skipped");
            assertArrayEquals(before.get(n), replica.get(n).data().asFloat(), n + " changed in the replica");
        }
    }
}
