package org.mha2mla.layers.qwen25vl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.rope.MRope;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.generation.Budget;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.CachePruning;
import org.mha2mla.layers.generation.H2oPruning;
import org.mha2mla.layers.generation.KvQuantization;
import org.mha2mla.layers.generation.TovaPruning;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.mha2mla.fixtures.Fixtures;

/**
 * Parity with transformers 5.17 on the tiny Qwen2.5-VL fixture: c0 = image (grid [1, 8, 10] → 20 image tokens)
 * + text, 47 tokens; c1 = text only, 22 tokens. The model is fed the golden processor outputs.
 */
class Qwen25VlModelTest {

    static Path dir;
    static Qwen25VlModel model;
    static Checkpoint golden;

    @BeforeAll
    static void load() throws Exception {
        dir = Fixtures.hf("qwen2_5_vl");
        model = (Qwen25VlModel) VlmLoader.load(dir);
        golden = Checkpoint.open(dir.resolve("golden.safetensors"));
    }

    @AfterAll
    static void close() {
        golden.close();
    }

    static MultimodalInput input(String c) {
        long[] ids = golden.getLongs(c + ".input_ids");
        if (!golden.contains(c + ".pixel_values")) return MultimodalInput.text(ids);
        long[] g = golden.getLongs(c + ".image_grid_thw");
        int[][] grid = new int[g.length / 3][];
        for (int i = 0; i < grid.length; i++) grid[i] = new int[] {(int) g[3 * i], (int) g[3 * i + 1], (int) g[3 * i + 2]};
        return new MultimodalInput(ids, golden.get(c + ".pixel_values"), null, grid);
    }

    static double maxAbs(INDArray a, INDArray b) {
        assertArrayEquals(b.shape(), a.shape());
        return a.sub(b).amax().getDouble(0);
    }

    @ParameterizedTest
    @ValueSource(strings = {"c0", "c1"})
    void positionIdsAndRopeDeltaMatchGolden(String c) {
        MRope.RopeIndex rope = model.ropeIndex(input(c));
        long[] expected = golden.getLongs(c + ".position_ids");     // [3, L]
        int l = rope.length();
        assertEquals(expected.length, 3 * l);
        for (int a = 0; a < 3; a++) {
            assertArrayEquals(java.util.Arrays.copyOfRange(expected, a * l, (a + 1) * l), rope.positionIds()[a], c + " axis " + a);
        }
        assertEquals(golden.getLongs(c + ".rope_deltas")[0], rope.ropeDelta(), c + " rope_delta");
    }

    @ParameterizedTest
    @ValueSource(strings = {"c0", "c1"})
    void logitsMatchGolden(String c) {
        double err = maxAbs(model.logits(input(c)), golden.get(c + ".logits"));
        System.out.printf("Qwen2.5-VL %s logits max abs %.3e%n", c, err);
        assertTrue(err <= 1e-4, c + " logits max abs " + err);
    }

    @ParameterizedTest
    @ValueSource(strings = {"c0", "c1"})
    void hiddenStatesOfEveryLayerMatchGolden(String c) {
        INDArray actual = model.hiddenStates(input(c));
        INDArray expected = golden.get(c + ".hidden_states");
        assertArrayEquals(expected.shape(), actual.shape());
        for (int i = 0; i < expected.size(0); i++) {
            double err = maxAbs(actual.get(NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.all()),
                    expected.get(NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.all()));
            System.out.printf("Qwen2.5-VL %s hidden_states[%d] max abs %.3e%n", c, i, err);
            assertTrue(err <= 1e-4, c + " hidden_states[" + i + "] max abs " + err);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"c0", "c1"})
    void greedyGenerationWithKvCacheMatchesGolden(String c) {
        long[] expected = golden.getLongs(c + ".generated_ids");
        assertArrayEquals(expected, model.generate(input(c), expected.length, true), c + " generated_ids");
    }

    /** Cache policies through the M-RoPE model: a budget covering the sequence changes nothing; int4 bytes are packed. */
    @Test
    void cachePoliciesOnTheGqaCache() {
        long[] expected = golden.getLongs("c0.generated_ids");
        for (CachePruning pruning : java.util.List.of(new H2oPruning(Budget.tokens(64)),
                new TovaPruning(Budget.fraction(2.0)))) {
            var g = model.generate(input("c0"), expected.length, true, CachePolicy.pruned(pruning), ids -> false);
            assertArrayEquals(expected, g.tokens(), pruning.label());
        }
        // key/value rows of 2 KV heads · 16 = 32 values (< 64: one group): 16 code bytes + 4 → 20 bytes; 3 layers · 2 tensors
        var int4 = model.generate(input("c0"), 4, false,
                CachePolicy.quantized(new KvQuantization(4, 64, 0)), ids -> false);
        assertEquals(47 + 3, int4.cache().tokensSeen());
        assertEquals(120.0, int4.cache().bytesPerToken(), 1e-12);
        // TOVA at 16 tokens: the held length stays at the budget while positions run on to L + 3
        var tova = model.generate(input("c0"), 4, false, CachePolicy.pruned(
                new TovaPruning(Budget.tokens(16))), ids -> false);
        assertEquals(16, tova.cache().tokensHeld());
        assertEquals(50, tova.cache().tokensSeen());
    }

    @Test
    void decodeStepsUseCachePositionPlusRopeDelta() {
        // c0's 20 image tokens occupy a 4×5 block of positions, so the prompt's positions end at 47 − 20 + 5 − 1 = 31
        // and the first generated token sits at position 32 = L + rope_delta on every axis (rope_delta = −15).
        MRope.RopeIndex rope = model.ropeIndex(input("c0"));
        long max = 0;
        for (long[] axis : rope.positionIds()) for (long p : axis) max = Math.max(max, p);
        assertEquals(32, max + 1);
        long[][] step = rope.decodePositions(47, 1);
        for (long[] axis : step) assertArrayEquals(new long[] {max + 1}, axis);
    }

    @Test
    void kvCacheBytesPerTokenIsTwoGqaHeadsOfKeysAndValuesPerLayer() {
        TextConfig t = model.config().textConfig();
        // 3 layers × (key + value) × 2 KV heads × head_dim 16 × 4 bytes
        assertEquals(3L * 2 * 2 * 16 * 4, model.kvCacheBytesPerToken());
        assertEquals((long) t.numHiddenLayers() * 2 * t.numKeyValueHeads() * t.headDim() * Float.BYTES,
                model.kvCacheBytesPerToken());
    }

    @Test
    void imageTokenCountMustMatchTheFeatures() {
        MultimodalInput c0 = input("c0");
        long[] fewer = java.util.Arrays.copyOf(c0.inputIds(), c0.length());
        for (int i = 0; i < fewer.length; i++) {
            if (fewer[i] == model.config().imageTokenId()) {
                fewer[i] = 10;
                break;
            }
        }
        MultimodalInput broken = new MultimodalInput(fewer, c0.pixelValues(), null, c0.imageGridThw());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.logits(broken));
        assertTrue(e.getMessage().contains("do not match") || e.getMessage().contains("cover"), e.getMessage());
    }

    @Test
    void loadsTheNewerKeyLayoutInShards(@TempDir Path tmp) throws Exception {
        // transformers ≥ 4.52 saves model.language_model.* / model.visual.*; written here as float32 shards.
        try (Checkpoint hub = Checkpoint.open(dir)) {
            TensorSource newer = KeyLayout.newLayout(hub, "qwen2_5_vl");
            assertTrue(newer.contains("model.visual.blocks.0.attn.qkv.weight"));
            Path index = SafeTensorsWriter.writeSharded(tmp, TensorSource.entries(newer, DType.F32), Map.of("format", "pt"), 200_000);
            assertTrue(index.getFileName().toString().endsWith(".index.json"), index.toString());
        }
        Files.copy(dir.resolve("config.json"), tmp.resolve("config.json"));
        Qwen25VlModel reloaded = (Qwen25VlModel) VlmLoader.load(tmp);
        MultimodalInput c0 = input("c0");
        assertEquals(0.0, maxAbs(reloaded.logits(c0), model.logits(c0)));
    }
}
