package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.trainer.data.DataPosition;
import org.mha2mla.trainer.data.ExampleStream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class TrainingCheckpointTest {

    @TempDir
    Path root;

    private static final LrSchedule SCHEDULE = LrSchedule.paper(1e-3, 1e-5, 100, LrSchedule.Decay.COSINE);

    private static TrainingCheckpoint.State state(long step) {
        return new TrainingCheckpoint.State(step, "1", List.of("a.q_proj.weight", "a.k_proj.bias"), SCHEDULE,
                AdamW.Config.defaults(0.1), 77, new ExampleStream.State(new DataPosition(step / 10, step % 10), step, 1, 2, 3),
                step * 100, step * 0.5);
    }

    /** Parameters and an optimizer that has taken {@code steps} updates with random gradients. */
    private static Map<String, INDArray> params(long seed) {
        Nd4j.getRandom().setSeed(seed);
        Map<String, INDArray> p = new LinkedHashMap<>();
        p.put("a.q_proj.weight", Nd4j.rand(DataType.FLOAT, 4, 3));
        p.put("a.k_proj.bias", Nd4j.rand(DataType.FLOAT, 4));
        return p;
    }

    private static AdamW optimizer(Map<String, INDArray> params, int steps) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        params.forEach((k, v) -> shapes.put(k, v.shape()));
        AdamW opt = new AdamW(AdamW.Config.defaults(0.1), shapes);
        for (int s = 0; s < steps; s++) {
            Map<String, INDArray> g = new LinkedHashMap<>();
            params.forEach((k, v) -> g.put(k, Nd4j.rand(DataType.FLOAT, v.shape()).subi(0.5)));
            opt.update(params, g, 1e-2);
        }
        return opt;
    }

    @Test
    void roundTripsBitwise() {
        Map<String, INDArray> p = params(1);
        AdamW opt = optimizer(p, 3);
        Path dir = TrainingCheckpoint.write(root, state(3), p, opt, 2);
        assertEquals(root.resolve("step-00000003"), dir);
        assertEquals(dir, TrainingCheckpoint.latest(root).orElseThrow());
        TrainingCheckpoint.Loaded l = TrainingCheckpoint.load(dir);
        assertEquals(state(3), l.state());
        assertEquals(p, l.params());
        assertEquals(3, l.adamStep());
        assertEquals(moments(opt, true), l.expAvg());
        assertEquals(moments(opt, false), l.expAvgSq());
    }

    /** The optimizer's first or second moments by name. */
    static Map<String, INDArray> moments(AdamW opt, boolean first) {
        Map<String, INDArray> out = new java.util.LinkedHashMap<>();
        for (String n : opt.names()) out.put(n, first ? opt.firstMoment(n) : opt.secondMoment(n));
        return out;
    }

    /** Moments kept in a file checkpoint and restore like moments in memory, and the run gives the same numbers. */
    @Test
    void momentsOnDiskGiveTheSameUpdatesAndCheckpoints() {
        Map<String, INDArray> inMemory = params(1);
        Map<String, INDArray> onDisk = params(1);
        AdamW a = new AdamW(AdamW.Config.defaults(0.01), shapes(inMemory));
        AdamW b = new AdamW(AdamW.Config.defaults(0.01), shapes(onDisk), root.resolve("moments.f32"), 5);   // 5-element chunks
        assertTrue(b.onDisk() && Files.isRegularFile(root.resolve("moments.f32")));
        for (int s = 0; s < 3; s++) {
            Map<String, INDArray> g = params(10 + s);
            a.update(inMemory, g, 1e-2);
            b.update(onDisk, g, 1e-2);
        }
        assertEquals(inMemory, onDisk);
        Path dir = TrainingCheckpoint.write(root.resolve("disk"), state(3), onDisk, b, 1);
        TrainingCheckpoint.Loaded l = TrainingCheckpoint.load(dir);
        assertEquals(moments(a, true), l.expAvg());
        assertEquals(moments(a, false), l.expAvgSq());
        AdamW c = new AdamW(AdamW.Config.defaults(0.01), shapes(onDisk), root.resolve("moments2.f32"), 3);
        c.restore(l.adamStep(), l.expAvg(), l.expAvgSq());
        Map<String, INDArray> g = params(20);
        a.update(inMemory, g, 1e-2);
        c.update(onDisk, g, 1e-2);
        assertEquals(inMemory, onDisk);
        b.close();
        c.close();
        assertFalse(Files.exists(root.resolve("moments.f32")), "the moment file is removed on close");
    }

    private static Map<String, long[]> shapes(Map<String, INDArray> params) {
        Map<String, long[]> out = new java.util.LinkedHashMap<>();
        params.forEach((n, a) -> out.put(n, a.shape()));
        return out;
    }

    @Test
    void keepsTheNewestCheckpointsAndReplacesARewrittenStep() throws IOException {
        Map<String, INDArray> p = params(2);
        AdamW opt = optimizer(p, 1);
        for (long s : new long[]{10, 20, 30}) TrainingCheckpoint.write(root, state(s), p, opt, 2);
        assertFalse(Files.exists(root.resolve("step-00000010")));
        assertTrue(Files.exists(root.resolve("step-00000020")));
        Map<String, INDArray> p2 = params(3);
        TrainingCheckpoint.write(root, state(30), p2, opt, 2);
        assertEquals(p2, TrainingCheckpoint.load(TrainingCheckpoint.latest(root).orElseThrow()).params());
        try (Stream<Path> s = Files.list(root)) {
            assertEquals(List.of("latest", "step-00000020", "step-00000030"), s.map(x -> x.getFileName().toString()).sorted().toList());
        }
    }

    /** A kill after each file of the new checkpoint leaves the previous one (or the complete new one) loadable. */
    @Test
    void aKillBetweenWritesLeavesThePreviousCheckpointLoadableAndIntact() throws IOException {
        for (String killAfter : List.of(TrainingCheckpoint.PARAMS, TrainingCheckpoint.OPTIMIZER, TrainingCheckpoint.STATE, "rename")) {
            Path r = root.resolve(killAfter.replace('.', '_'));
            Map<String, INDArray> p1 = params(4);
            AdamW o1 = optimizer(p1, 2);
            Map<String, INDArray> saved = new LinkedHashMap<>();
            p1.forEach((k, v) -> saved.put(k, v.dup()));
            TrainingCheckpoint.write(r, state(5), p1, o1, 1);

            Map<String, INDArray> p2 = params(5);
            AdamW o2 = optimizer(p2, 4);
            RuntimeException kill = assertThrows(RuntimeException.class, () -> TrainingCheckpoint.write(r, state(10), p2, o2, 1,
                    what -> {
                        if (what.equals(killAfter)) throw new RuntimeException("killed after " + what);
                    }));
            assertEquals("killed after " + killAfter, kill.getMessage());

            Path latest = TrainingCheckpoint.latest(r).orElseThrow();
            // The pointer still names step 5 — also when step 10 was already renamed into place.
            assertEquals(r.resolve("step-00000005"), latest, killAfter);
            TrainingCheckpoint.Loaded l = TrainingCheckpoint.load(latest);
            assertEquals(state(5), l.state());
            assertEquals(saved, l.params());
            assertEquals(moments(o1, true), l.expAvg());
            assertEquals(2, l.adamStep());

            // The next successful write cleans up the abandoned temporary directory.
            TrainingCheckpoint.write(r, state(15), p2, o2, 1);
            try (Stream<Path> s = Files.list(r)) {
                assertEquals(List.of("latest", "step-00000015"), s.map(x -> x.getFileName().toString()).sorted().toList(), killAfter);
            }
        }
    }

    @Test
    void aMissingOrStalePointerFallsBackToTheNewestCompleteCheckpoint() throws IOException {
        Map<String, INDArray> p = params(6);
        AdamW opt = optimizer(p, 1);
        TrainingCheckpoint.write(root, state(1), p, opt, 3);
        TrainingCheckpoint.write(root, state(2), p, opt, 3);
        Files.writeString(root.resolve(TrainingCheckpoint.LATEST), "step-00000099\n");
        assertEquals(root.resolve("step-00000002"), TrainingCheckpoint.latest(root).orElseThrow());
        Files.delete(root.resolve(TrainingCheckpoint.LATEST));
        Files.delete(root.resolve("step-00000002").resolve(TrainingCheckpoint.STATE));
        assertEquals(root.resolve("step-00000001"), TrainingCheckpoint.latest(root).orElseThrow());
        assertTrue(TrainingCheckpoint.latest(root.resolve("nothing")).isEmpty());
        assertThrows(IllegalArgumentException.class, () -> TrainingCheckpoint.load(root.resolve("step-00000002")));
    }
}
