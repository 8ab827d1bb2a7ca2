package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.trainer.data.DataPosition;
import org.mha2mla.trainer.data.ExampleStream;
import org.mha2mla.trainer.data.Examples;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The loop's bookkeeping on a source whose gradient is known in closed form: one parameter vector w and, per supervised
 * token, the loss |w − 1|², so ∂/∂w = 2(w − 1) per token.
 */
class TrainingLoopTest {

    private static final PrintStream QUIET = new PrintStream(java.io.OutputStream.nullOutputStream());

    @TempDir
    Path tmp;

    /** w starts at 0: every update moves it towards 1. */
    static final class Quadratic implements GradientSource {
        final INDArray w = Nd4j.zeros(DataType.FLOAT, 4);
        int updates;

        record Tokens(long[][] targets, int tokens) implements Batch {
            @Override
            public void release() {
            }
        }

        @Override
        public Map<String, Long> parameterSizes() {
            return Map.of("w", 4L);
        }

        @Override
        public Map<String, INDArray> trainable() {
            return Map.of("w", w);
        }

        @Override
        public Batch batch(List<TrainingExample> examples) {
            long[][] t = examples.stream().map(TrainingExample::targets).toArray(long[][]::new);
            return new Tokens(t, examples.stream().mapToInt(TrainingExample::length).sum());
        }

        @Override
        public double accumulate(Batch batch, Map<String, INDArray> grads) {
            int n = batch.supervisedTokens();
            grads.get("w").addi(w.sub(1).muli(2 * n));
            return lossSum(batch);
        }

        @Override
        public double lossSum(Batch batch) {
            double d = w.sub(1).norm2Number().doubleValue();
            return batch.supervisedTokens() * d * d;
        }

        @Override
        public void updated() {
            updates++;
        }

        @Override
        public void close() {
        }
    }

    /** An endless stream of one 3-token example with two supervised tokens. */
    static Examples examples() {
        return new Examples() {
            long served;

            @Override
            public TrainingExample next() {
                served++;
                return new TrainingExample("e" + served, MultimodalInput.text(new long[]{4, 5, 6}), new long[]{-100, 5, 6});
            }

            @Override
            public ExampleStream.State state() {
                return new ExampleStream.State(new DataPosition(0, served), served, 0, 0, 0);
            }
        };
    }

    private TrainingLoop.Settings.Builder settings(long steps) {
        return TrainingLoop.Settings.builder("quadratic", steps, total -> new LrSchedule(0.1, 0.01, total, 2, total - 2, LrSchedule.Decay.COSINE),
                tmp.resolve("loss.csv")).progress(false);
    }

    @Test
    void aHorizonThatShortensTheRunStretchesTheScheduleOverTheNewTotal() {
        Quadratic source = new Quadratic();
        PeftStage stage = new PeftStage(source, FreezeMask.of("w", List.of("w")), AdamW.Config.defaults(0), 0);
        // Plans 13 of 20 updates after 8, as the demo's budget does when time runs short.
        TrainingLoop.Horizon horizon = (done, planned, seconds) -> {
            assertEquals(done, seconds.length);
            return done == 8 ? 13 : planned;
        };
        TrainingLoop.Result r = TrainingLoop.run(stage, examples(), settings(20).horizon(horizon).microBatchSize(2).build(),
                TrainingLoop.Start.FRESH, QUIET);
        assertEquals(13, r.step());
        assertEquals(13, r.total());
        assertTrue(r.finished());
        LrSchedule planned = new LrSchedule(0.1, 0.01, 20, 2, 18, LrSchedule.Decay.COSINE);
        LrSchedule cut = new LrSchedule(0.1, 0.01, 13, 2, 11, LrSchedule.Decay.COSINE);
        for (int i = 0; i < 8; i++) assertEquals(planned.lr(i), r.rows().get(i).lr(), 1e-15, "update " + (i + 1));
        for (int i = 8; i < 13; i++) assertEquals(cut.lr(i), r.rows().get(i).lr(), 1e-15, "update " + (i + 1));
        assertTrue(r.rows().get(12).lr() > 0.01, "the last update runs above the floor");
        assertEquals(13, source.updates);
        assertEquals(13 * 2 * 3, r.tokens());
        // The loss (|w − 1|² at the update's start, with w from 0 towards 1) falls.
        assertEquals(4.0, r.rows().get(0).loss(), 1e-6);
        assertTrue(r.rows().get(12).loss() < r.rows().get(0).loss());
    }

    @Test
    void stopAfterEndsWithACheckpointAndAResumedRunStartsFromIt() throws Exception {
        Quadratic source = new Quadratic();
        PeftStage stage = new PeftStage(source, FreezeMask.of("w", List.of("w")), AdamW.Config.defaults(0), 1.0);
        Path ckpt = tmp.resolve("ckpt");
        TrainingLoop.Result first = TrainingLoop.run(stage, examples(), settings(10).stopAfter(4).checkpoints(ckpt, 0, 2).build(),
                TrainingLoop.Start.FRESH, QUIET);
        assertEquals(4, first.step());
        assertFalse(first.finished());
        TrainingCheckpoint.Loaded saved = TrainingCheckpoint.load(TrainingCheckpoint.latest(ckpt).orElseThrow());
        assertEquals(4, saved.state().step());
        assertEquals(source.w, saved.params().get("w"));
        assertEquals(4, saved.adamStep());
        TrainingLoop.Result rest = TrainingLoop.run(stage, examples(), settings(10).checkpoints(ckpt, 0, 2).build(),
                new TrainingLoop.Start(4, first.tokens(), 1.0), QUIET);
        assertEquals(10, rest.step());
        assertEquals(6, rest.rows().size());
        assertEquals(5, rest.rows().get(0).step());
        assertEquals(11, Files.readAllLines(tmp.resolve("loss.csv")).size(), "header and ten rows");
    }
}
