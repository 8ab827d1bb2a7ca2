package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.weights.ArraySource;
import org.mha2mla.importers.weights.TensorSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Blocks y = x·Wᵀ + b over placeholder weights, against the same products computed directly. */
class BlockRunnerTest {

    /** Three blocks of one shape (weight [2, 3], bias [2]) and one of another (w [3, 3]), recording what was opened. */
    static final class Recording extends ArrayList<StoredTensor> {
        final TensorSource source;

        Recording() {
            Map<String, INDArray> w = new LinkedHashMap<>();
            Nd4j.getRandom().setSeed(5);
            for (int i = 0; i < 3; i++) {
                w.put("blocks." + i + ".weight", Nd4j.randn(DataType.FLOAT, 2, 3));
                w.put("blocks." + i + ".bias", Nd4j.randn(DataType.FLOAT, 2));
            }
            w.put("wide.weight", Nd4j.randn(DataType.FLOAT, 3, 3));
            w.put("wide.bias", Nd4j.randn(DataType.FLOAT, 3));
            ArraySource arrays = new ArraySource(w, "test weights");
            source = new TensorSourceView(arrays) {
                @Override
                public StoredTensor stored(String name) {
                    StoredTensor t = arrays.stored(name);
                    add(t);
                    return t;
                }
            };
        }
    }

    /** Delegates everything to another source (subclasses override what they observe). */
    static class TensorSourceView implements TensorSource {
        final TensorSource src;

        TensorSourceView(TensorSource src) {
            this.src = src;
        }

        @Override public java.util.Set<String> names() { return src.names(); }
        @Override public org.mha2mla.importers.safetensors.TensorInfo info(String name) { return src.info(name); }
        @Override public INDArray get(String name) { return src.get(name); }
        @Override public long[] getLongs(String name) { return src.getLongs(name); }
        @Override public boolean contains(String name) { return src.contains(name); }
        @Override public String description() { return src.description(); }
        @Override public void close() { }
    }

    static BlockRunner.Block linear(BlockRunner runner, String prefix, long in, long out) {
        BlockRunner.Block block = runner.block(prefix);
        SameDiff sd = block.sd();
        Linear.of(sd, prefix.substring(0, prefix.length() - 1), in, out, true).forward("y", sd.placeHolder("x", DataType.FLOAT, -1, in));
        return block;
    }

    static INDArray direct(TensorSource w, String prefix, INDArray x) {
        return x.mmul(w.get(prefix + "weight").transpose()).addRowVector(w.get(prefix + "bias"));
    }

    static boolean isOpen(StoredTensor t) {
        try {
            t.chunk(0);
            return true;
        } catch (IllegalStateException e) {
            return false;
        }
    }

    @Test
    void oneGraphServesEveryBlockOfItsShape() {
        Recording w = new Recording();
        INDArray x = Nd4j.randn(DataType.FLOAT, 4, 3);
        try (BlockRunner runner = new BlockRunner(w.source, LayerwiseDecoder.Residency.RELEASE)) {
            BlockRunner.Block block = linear(runner, "blocks.0.", 3, 2);
            assertEquals(List.of("blocks.0.weight", "blocks.0.bias"), block.weights());
            for (int i = 0; i < 3; i++) {
                INDArray y = runner.run(block, "blocks." + i + ".", Map.of("x", x), "y").get("y");
                assertEquals(0.0, y.sub(direct(w.source, "blocks." + i + ".", x)).amaxNumber().doubleValue(), 1e-6, "block " + i);
            }
            // A block of another shape gets buffers of its own.
            BlockRunner.Block wide = linear(runner, "wide.", 3, 3);
            INDArray y = runner.run(wide, Map.of("x", x), "y").get("y");
            assertEquals(0.0, y.sub(direct(w.source, "wide.", x)).amaxNumber().doubleValue(), 1e-6);
        }
    }

    @Test
    void releaseClosesEachWeightAfterItsRunAndKeepHoldsThemUntilClose() {
        INDArray x = Nd4j.randn(DataType.FLOAT, 4, 3);
        Recording released = new Recording();
        try (BlockRunner runner = new BlockRunner(released.source, LayerwiseDecoder.Residency.RELEASE)) {
            BlockRunner.Block block = linear(runner, "blocks.0.", 3, 2);
            runner.run(block, "blocks.1.", Map.of("x", x), "y");
            assertEquals(2, released.size());
            assertTrue(released.stream().noneMatch(BlockRunnerTest::isOpen), "RELEASE left a weight open");
        }
        Recording kept = new Recording();
        BlockRunner runner = new BlockRunner(kept.source, LayerwiseDecoder.Residency.KEEP);
        BlockRunner.Block block = linear(runner, "blocks.0.", 3, 2);
        runner.run(block, "blocks.1.", Map.of("x", x), "y");
        runner.run(block, "blocks.1.", Map.of("x", x), "y");
        assertEquals(2, kept.size(), "KEEP opens each weight once");
        assertTrue(kept.stream().allMatch(BlockRunnerTest::isOpen));
        runner.close();
        assertTrue(kept.stream().noneMatch(BlockRunnerTest::isOpen), "close() left a weight open");
        // Usable again after close: the weights are opened anew.
        INDArray y = runner.run(block, "blocks.2.", Map.of("x", x), "y").get("y");
        assertEquals(0.0, y.sub(direct(kept.source, "blocks.2.", x)).amaxNumber().doubleValue(), 1e-6);
        runner.close();
    }

    @Test
    void aBlockWhoseWeightsDoNotFitTheGraphIsNamed() {
        Recording w = new Recording();
        try (BlockRunner runner = new BlockRunner(w.source, LayerwiseDecoder.Residency.KEEP)) {
            BlockRunner.Block block = linear(runner, "blocks.0.", 3, 2);
            Map<String, INDArray> in = Map.of("x", Nd4j.zeros(DataType.FLOAT, 1, 3));
            IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> runner.run(block, "blocks.7.", in, "y"));
            assertTrue(missing.getMessage().contains("'blocks.7.weight' is missing"), missing.getMessage());
            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> runner.run(block, "wide.", in, "y"));
            assertTrue(shape.getMessage().contains("'wide.weight' has shape [3, 3]") && shape.getMessage().contains("[2, 3]"), shape.getMessage());
        }
    }

    @Test
    void floatsReadsASmallWeight() {
        Recording w = new Recording();
        try (BlockRunner runner = new BlockRunner(w.source, LayerwiseDecoder.Residency.RELEASE)) {
            assertArrayEquals(w.source.get("wide.bias").toFloatVector(), runner.floats("wide.bias").toFloatVector());
            assertTrue(w.stream().noneMatch(BlockRunnerTest::isOpen));
        }
    }

    /**
     * A block y = (x·Wᵀ + b) ⊙ s with W, b stored weights and s a variable, loss Σ y ⊙ g: the runner's gradients are the
     * closed form ∂/∂s = Σ_rows (x·Wᵀ + b) ⊙ g and ∂/∂x = (g ⊙ s)·W, on the weights of the block the graph was built for.
     */
    @Test
    void gradientsAreTheClosedFormOverTheStoredWeights() {
        Recording w = new Recording();
        INDArray x = Nd4j.randn(DataType.FLOAT, 4, 3);
        INDArray g = Nd4j.randn(DataType.FLOAT, 4, 2);
        INDArray s = Nd4j.createFromArray(0.5f, -2f);
        try (BlockRunner runner = new BlockRunner(w.source, LayerwiseDecoder.Residency.RELEASE, 0.05)) {
            BlockRunner.Block block = runner.block("blocks.1.");
            SameDiff sd = block.sd();
            SDVariable y = Linear.of(sd, "blocks.1", 3, 2, true).forward("lin", sd.placeHolder("x", DataType.FLOAT, -1, 3))
                    .mul(sd.var("s", s.dup()));
            sd.setLossVariables(sd.sum("loss", y.mul(sd.placeHolder("g", DataType.FLOAT, -1, 2))));
            IllegalStateException none = assertThrows(IllegalStateException.class,
                    () -> runner.gradients(block, Map.of("x", x, "g", g), List.of("s")));
            assertTrue(none.getMessage().contains("no gradient function"), none.getMessage());
            GradientGraph.build(sd, "x");

            Map<String, INDArray> grads = runner.gradients(block, Map.of("x", x, "g", g), List.of("s", "x"));
            INDArray lin = direct(w.source, "blocks.1.", x);
            INDArray ds = lin.mul(g).sum(0);
            INDArray dx = g.mulRowVector(s).mmul(w.source.get("blocks.1.weight"));
            assertEquals(0.0, grads.get("s").sub(ds).amaxNumber().doubleValue(), 1e-5);
            assertEquals(0.0, grads.get("x").sub(dx).amaxNumber().doubleValue(), 1e-5);
            assertTrue(w.stream().noneMatch(BlockRunnerTest::isOpen), "RELEASE left a weight open after the gradient pass");
        }
    }
}
