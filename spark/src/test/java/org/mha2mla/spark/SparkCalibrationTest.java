package org.mha2mla.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.cli.Main;
import org.mha2mla.cli.SparkBackend;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.PartialRope;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.CovarianceAccumulator;
import org.mha2mla.core.svd.ModalityCovariance;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.CalibrationPasses;
import org.mha2mla.layers.mla.LocalCalibration;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.trainer.ModelFolder;
import org.mha2mla.trainer.data.InstructCalibration;
import org.mha2mla.trainer.data.ModelProcessor;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link SparkCalibration} on {@code local[2]} against {@link LocalCalibration} on the llava fixture with three
 * LLaVA-instruct records (two with the fixture's image, one text only; shares of 1 and 2 samples): per layer the same
 * MKL scores and kept pairs, KL and per-modality covariances within float64 summation order, also after the executor
 * lost its shares mid-run (they are replayed); and {@code convert --spark local[2]} writes the single-process model.
 */
class SparkCalibrationTest {

    static final Path MODEL = SparkEvalTest.FIXTURES.resolve("llava");

    static Path calibration(Path dir) throws Exception {
        Files.copy(MODEL.resolve("image0.png"), dir.resolve("image0.png"));
        Files.writeString(dir.resolve("calib.json"), """
                [{"id": "a", "image": "image0.png", "conversations": [
                   {"from": "human", "value": "<image>\\nWhat is the color of the square?"}, {"from": "gpt", "value": "red"}]},
                 {"id": "b", "conversations": [{"from": "human", "value": "Say hello to the world."}, {"from": "gpt", "value": "hello world"}]},
                 {"id": "c", "image": "image0.png", "conversations": [
                   {"from": "human", "value": "<image>\\nDescribe the picture."}, {"from": "gpt", "value": "a red square"}]}]
                """);
        return dir.resolve("calib.json");
    }

    /** max |a − b| / max |a| over two arrays of the same shape. */
    static double relative(INDArray a, INDArray b) {
        return a.sub(b).amaxNumber().doubleValue() / a.amaxNumber().doubleValue();
    }

    static double relative(double[][] a, double[][] b) {
        double diff = 0;
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                diff = Math.max(diff, Math.abs(a[i][j] - b[i][j]));
                max = Math.max(max, Math.abs(a[i][j]));
            }
        }
        return diff / max;
    }

    private double worstCovariance;

    private void assertSameCovariance(CovarianceAccumulator a, CovarianceAccumulator b, String what) {
        assertEquals(a.tokens(), b.tokens(), what + " tokens");
        double rel = relative(a.sum(), b.sum());
        assertTrue(rel <= 1e-12, what + ": relative difference " + rel);
        worstCovariance = Math.max(worstCovariance, rel);
    }

    @Test
    void passesOnTwoExecutorSharesEqualThePassesOnOneMachine(@TempDir Path tmp) throws Exception {
        Path calib = calibration(tmp);
        Mha2MlaConverter.Options o = Mha2MlaConverter.Options.builder(4).ropeDim(4).spillDir(tmp).build();
        try (ModelProcessor processor = ModelProcessor.load(MODEL);
             VisionLanguageModel model = VlmLoader.load(MODEL);
             LocalCalibration local = Mha2MlaConverter.localPasses(model, new InstructCalibration(calib, null, processor).load(3), o, () -> { });
             SparkBackend.Session session = new SparkJobs().start("local[2]", 2, "SparkCalibrationTest")) {
            SparkBackend.Calibration c = session.calibration(MODEL, calib, null, 5, InstructCalibration.DEFAULT_SEED, ModelFolder.DEFAULT_CALIBRATION_LENGTH, o);
            assertEquals(3, c.samples());   // 5 asked, the file has 3
            int[] steps = {0};
            try (CalibrationPasses spark = c.passes().open(model, () -> steps[0]++)) {
                assertEquals(local.textTokens(), spark.textTokens());
                assertEquals(local.visualTokens(), spark.visualTokens());
                assertTrue(spark.visualTokens() > 0 && spark.textTokens() > 0);
                TextConfig text = model.config().textConfig();
                for (int l = 0; l < text.numHiddenLayers(); l++) {
                    if (l == 1) ExecutorState.releaseAll();   // the executor lost its shares: layer 1 replays layer 0's calls
                    CalibrationPasses.PairScores a = local.scorePairs(l, RopeStrategy.MKL);
                    CalibrationPasses.PairScores b = spark.scorePairs(l, RopeStrategy.MKL);
                    assertEquals(a.mkl().samples(0), b.mkl().samples(0));
                    double scores = relative(a.scores(), b.scores());
                    assertTrue(scores <= 1e-12, "layer " + l + " MKL scores differ by " + scores);
                    int[][] kept = kept(text, a.scores());
                    for (int h = 0; h < kept.length; h++) assertArrayEquals(kept[h], kept(text, b.scores())[h], "layer " + l + " head " + h);
                    double klA = local.attentionKl(l, kept).mean();
                    double klB = spark.attentionKl(l, kept).mean();
                    assertTrue(klA > 0);
                    assertEquals(klA, klB, 1e-12 * klA, "layer " + l + " KL");
                    ModalityCovariance covA = local.kvInputCovariance(l, kept);
                    ModalityCovariance covB = spark.kvInputCovariance(l, kept);
                    assertSameCovariance(covA.text(), covB.text(), "layer " + l + " text");
                    assertSameCovariance(covA.visual(), covB.visual(), "layer " + l + " visual");
                }
                assertEquals(3 * 2 * text.numHiddenLayers(), steps[0]);   // one step per sample and layer pass
                System.out.printf("local[2] vs one machine: covariances max relative difference %.2e%n", worstCovariance);
            }
        }
    }

    /** The kept pairs the conversion chooses from one layer's scores. */
    private static int[][] kept(TextConfig text, double[][] scores) {
        RopeSelection one = PartialRope.select(RopeStrategy.MKL, 1, text.numKeyValueHeads(), text.headDim(), 4, new double[][][]{scores});
        int[][] k = new int[text.numKeyValueHeads()][];
        for (int h = 0; h < k.length; h++) k[h] = one.keptPairs(0, h);
        return k;
    }

    @Test
    void convertOnSparkWritesTheSingleProcessModel(@TempDir Path tmp) throws Exception {
        Path calib = calibration(tmp);
        Path one = tmp.resolve("one");
        Path spark = tmp.resolve("spark");
        List<String> args = List.of("convert", "--model", MODEL.toString(), "--d-kv", "4", "--rope-dim", "4", "--calib", calib.toString(),
                "--calib-samples", "3", "--dtype", "f32", "--ablations", "--no-progress");
        assertEquals(0, Main.run(with(args, "--out", one.toString())));
        assertEquals(0, Main.run(with(args, "--out", spark.toString(), "--spark", "local[2]")));

        Mha2MlaConfig a = HfConfigParser.readConversion(one);
        Mha2MlaConfig b = HfConfigParser.readConversion(spark);
        assertEquals(a.step(), b.step());
        assertTrue(java.util.Arrays.deepEquals(a.keptPairs(), b.keptPairs()), "kept RoPE pairs differ");
        JsonNode reportA = SparkEvalTest.JSON.readTree(one.resolve("conversion_report.json").toFile());
        JsonNode reportB = SparkEvalTest.JSON.readTree(spark.resolve("conversion_report.json").toFile());
        for (String k : List.of("calibration_samples", "text_tokens", "visual_tokens")) assertEquals(reportA.get(k), reportB.get(k), k);
        for (int l = 0; l < reportA.get("layers").size(); l++) {
            JsonNode la = reportA.get("layers").get(l);
            JsonNode lb = reportB.get("layers").get(l);
            for (String k : List.of("attention_kl", "split_loss", "joint_loss")) {
                assertEquals(la.get(k).asDouble(), lb.get(k).asDouble(), 1e-9 * Math.abs(la.get(k).asDouble()), "layer " + l + " " + k);
            }
        }
        // the factors themselves are defined up to the signs of singular vectors; their products W_up·W_down are not
        try (Checkpoint ca = Checkpoint.open(one); Checkpoint cb = Checkpoint.open(spark)) {
            assertEquals(ca.names(), cb.names());
            int products = 0;
            double worst = 0;
            for (String name : ca.names()) {
                if (!name.contains(".kv_down_proj")) {
                    if (name.contains("_up_proj")) continue;
                    assertTrue(ca.get(name).equalsWithEps(cb.get(name), 0), name);   // untouched or not factorised: identical
                    continue;
                }
                String modality = name.substring(name.indexOf(".kv_down_proj") + ".kv_down_proj".length(), name.lastIndexOf(".weight"));
                String key = name.substring(0, name.indexOf(".kv_down_proj"));
                for (String up : List.of(".k_up_proj", ".v_up_proj")) {
                    String u = key + up + modality + ".weight";
                    INDArray pa = ca.get(u).mmul(ca.get(name));
                    INDArray pb = cb.get(u).mmul(cb.get(name));
                    double rel = pa.sub(pb).norm2Number().doubleValue() / pa.norm2Number().doubleValue();
                    assertTrue(rel <= 1e-6, u + "·kv_down: relative difference " + rel);
                    worst = Math.max(worst, rel);
                    products++;
                }
            }
            assertEquals(3 * 2 * 2, products);   // 3 layers × text/visual × k/v
            System.out.printf("convert --spark local[2] vs one process: W_up·W_down max relative difference %.2e%n", worst);
        }
    }

    private static String[] with(List<String> args, String... more) {
        List<String> all = new ArrayList<>(args);
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }
}
