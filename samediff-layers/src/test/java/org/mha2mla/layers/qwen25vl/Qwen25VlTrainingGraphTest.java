package org.mha2mla.layers.qwen25vl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.mha2mla.fixtures.Fixtures;

/**
 * The end-to-end graph (pixels → tower → one-hot/selection merge → decoder) against transformers' logits on the
 * fixture, alone and in a right-padded batch.
 */
class Qwen25VlTrainingGraphTest {

    static Qwen25VlTrainingGraph graph;
    static Checkpoint golden;

    @BeforeAll
    static void load() throws Exception {
        Path dir = Fixtures.hf("qwen2_5_vl");
        try (Checkpoint weights = Checkpoint.open(dir)) {
            graph = new Qwen25VlTrainingGraph((Qwen25VlConfig) HfConfigParser.read(dir), Params.load(weights));
        }
        golden = Checkpoint.open(dir.resolve("golden.safetensors"));
    }

    @AfterAll
    static void close() {
        golden.close();
    }

    static MultimodalInput c0(int length) {
        long[] ids = Arrays.copyOf(golden.getLongs("c0.input_ids"), length);
        long[] g = golden.getLongs("c0.image_grid_thw");
        return new MultimodalInput(ids, golden.get("c0.pixel_values"), null, new int[][] {{(int) g[0], (int) g[1], (int) g[2]}});
    }

    static INDArray logits(List<MultimodalInput> batch) {
        return graph.sameDiff().output(graph.feed(batch), TextDecoder.LOGITS).get(TextDecoder.LOGITS);
    }

    @Test
    void logitsMatchTransformersAloneAndRightPaddedInABatch() {
        INDArray expected = golden.get("c0.logits");                                  // [47, 400]
        INDArray batch = logits(List.of(c0(47), c0(30)));                             // row 1 padded by 17
        assertArrayEquals(new long[] {2, 47, 400}, batch.shape());
        double full = batch.slice(0).sub(expected).amax().getDouble(0);
        double padded = batch.slice(1).get(NDArrayIndex.interval(0, 30), NDArrayIndex.all())
                .sub(expected.get(NDArrayIndex.interval(0, 30), NDArrayIndex.all())).amax().getDouble(0);
        System.out.printf("training graph vs golden logits: full row %.3e, right-padded row %.3e%n", full, padded);
        assertTrue(full <= 1e-4 && padded <= 1e-4, full + ", " + padded);
    }

    @Test
    void rowsWithoutTheirImageOrWithAnotherGridAreRefused() {
        MultimodalInput c0 = c0(47);
        MultimodalInput text = MultimodalInput.text(Arrays.copyOf(c0.inputIds(), 5));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> graph.feed(List.of(c0, text)));
        assertTrue(e.getMessage().contains("row 1"), e.getMessage());
        long[] fewer = c0.inputIds().clone();
        for (int i = 0; i < fewer.length; i++) if (fewer[i] == graph.config().imageTokenId()) { fewer[i] = 10; break; }
        MultimodalInput broken = new MultimodalInput(fewer, c0.pixelValues(), null, c0.imageGridThw());
        e = assertThrows(IllegalArgumentException.class, () -> graph.feed(List.of(broken)));
        assertTrue(e.getMessage().contains("do not match"), e.getMessage());
    }
}
