package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.Nd4jBlas;

/**
 * The whole graph of a PEFT stage on two replicas ({@link WholeGraphGradients#onReplicas}) against the one graph: the
 * same loss and gradients up to float summation order, the model's own graph as the trained one, and ND4J's threads
 * back as they were once the source is closed.
 */
class ReplicatedGradientsTest {

    @Test
    void twoReplicasOfAPeftStageComputeTheOneGraphsGradients() {
        // Two loads of one fixture: building a stage's loss and gradient functions changes the model's graph
        List<TrainingExample> examples = List.of(GoldenExamples.example("qwen2_5_vl", "c0", 8),
                GoldenExamples.example("qwen2_5_vl", "c1", 6), GoldenExamples.example("qwen2_5_vl", "c0", 3)); // shards of 1 and 2
        FreezeMask mask = FreezeMask.stage1();
        int threadsBefore = Nd4j.getEnvironment().maxThreads();
        try (VisionLanguageModel m1 = VlmLoader.load(TestFixtures.dir("qwen2_5_vl"));
             VisionLanguageModel m2 = VlmLoader.load(TestFixtures.dir("qwen2_5_vl"))) {
            PeftStage one = TestFixtures.stage(m1, mask, AdamW.Config.defaults(0), 0);
            double lossOne = one.accumulateGradients(List.of(one.batch(examples)));
            try (GradientSource two = WholeGraphGradients.onReplicas(m2, mask, 2)) {
                ReplicatedGradients replicated = assertInstanceOf(ReplicatedGradients.class, two);
                assertEquals(2, replicated.replicas().size());
                assertEquals(1, Nd4j.getEnvironment().maxThreads(), "one op thread per replica while the source is open");
                PeftStage split = new PeftStage(two, mask, AdamW.Config.defaults(0), 0);
                GradientSource.Batch batch = split.batch(examples);
                assertEquals(examples.stream().mapToInt(TrainingExample::length).sum(), batch.tokens());
                assertEquals(lossOne, split.accumulateGradients(List.of(batch)), 1e-6 * Math.abs(lossOne));
                for (Map.Entry<String, INDArray> e : one.gradients().entrySet()) {
                    INDArray a = e.getValue();
                    double err = a.sub(split.gradients().get(e.getKey())).norm2Number().doubleValue() / a.norm2Number().doubleValue();
                    assertTrue(err < 1e-5, e.getKey() + ": relative difference " + err);
                }
                // the model's own graph is the trained one; the second replica trains a copy
                for (Map.Entry<String, INDArray> p : two.trainable().entrySet()) {
                    assertSame(m2.graph().sameDiff().getVariable(p.getKey()).getArr(), p.getValue(), p.getKey());
                    assertNotSame(p.getValue(), replicated.replicas().get(1).trainable().get(p.getKey()), p.getKey());
                }
            }
            assertEquals(threadsBefore, Nd4j.getEnvironment().maxThreads(), "threads restored on close");
        }
    }

    @Test
    void sourcesOpenSideBySideKeepOneThreadUntilTheLastCloses() {
        int before = Nd4j.getEnvironment().maxThreads();
        ReplicatedGradients a = new ReplicatedGradients(List.of(new NoParameters(), new NoParameters()));
        ReplicatedGradients b = new ReplicatedGradients(List.of(new NoParameters(), new NoParameters()));
        assertEquals(1, Nd4j.getEnvironment().maxThreads());
        a.close();
        a.close(); // twice: still one release
        assertEquals(1, Nd4j.getEnvironment().maxThreads(), "b is still open");
        b.close();
        assertEquals(before, Nd4j.getEnvironment().maxThreads());
        try (ReplicatedGradients one = new ReplicatedGradients(List.of(new NoParameters()))) {
            assertEquals(before, Nd4j.getEnvironment().maxThreads(), "a single replica leaves the threads alone");
        }
    }

    @Test
    void aMicroBatchOfOneExampleGivesOpenBlasItsThreadsBackForItsPass() {
        Nd4jBlas blas = (Nd4jBlas) Nd4j.factory().blas();
        int blasBefore = blas.getMaxThreads();
        blas.setMaxThreads(2);
        try {
            ThreadsSeen first = new ThreadsSeen();
            ThreadsSeen second = new ThreadsSeen();
            // Two, or one where this process's products run on oneDNN beside a long OpenBLAS spin (the rule's own test below)
            int lone = ReplicatedGradients.SingleThreaded.blasThreadsForOnePass(2);
            try (ReplicatedGradients source = new ReplicatedGradients(List.of(first, second))) {
                assertEquals(1, blas.getMaxThreads(), "one OpenBLAS thread per replica while the source is open");
                TrainingExample example = GoldenExamples.example("qwen2_5_vl", "c0", 3);

                source.accumulate(source.batch(List.of(example)), Map.of());
                assertEquals(List.of(lone), first.blasThreads, "the lone replica's pass gets the threads the rule gives");
                assertEquals(List.of(), second.blasThreads);
                assertEquals(1, blas.getMaxThreads(), "back to one thread after the pass");

                source.accumulate(source.batch(List.of(example, example)), Map.of());
                assertEquals(List.of(lone, 1), first.blasThreads, "two replicas side by side: one thread each");
                assertEquals(List.of(1), second.blasThreads);

                // A second source open beside this one may run its replicas concurrently: no extra threads then.
                try (ReplicatedGradients other = new ReplicatedGradients(List.of(new NoParameters(), new NoParameters()))) {
                    source.accumulate(source.batch(List.of(example)), Map.of());
                    assertEquals(List.of(lone, 1, 1), first.blasThreads);
                }
            }
            assertEquals(2, blas.getMaxThreads(), "restored on close");
        } finally {
            blas.setMaxThreads(blasBefore);
        }
    }

    @Test
    void aLonePassKeepsOneOpenBlasThreadBesideOneDnnWhileOpenBlasWorkersSpinLong() {
        // OPENBLAS_THREAD_TIMEOUT as OpenBLAS 0.3.19 reads it: atoi, ≤ 0 or unset is its build's 28, clamped to [4, 30]
        assertEquals(28, ReplicatedGradients.SingleThreaded.blasSpinLog2(null));
        assertEquals(28, ReplicatedGradients.SingleThreaded.blasSpinLog2("0"));
        assertEquals(28, ReplicatedGradients.SingleThreaded.blasSpinLog2("-3"));
        assertEquals(28, ReplicatedGradients.SingleThreaded.blasSpinLog2("four"));
        assertEquals(4, ReplicatedGradients.SingleThreaded.blasSpinLog2("4"));
        assertEquals(4, ReplicatedGradients.SingleThreaded.blasSpinLog2(" 2"));
        assertEquals(12, ReplicatedGradients.SingleThreaded.blasSpinLog2("+12cycles"));
        assertEquals(30, ReplicatedGradients.SingleThreaded.blasSpinLog2("31"));
        // products on OpenBLAS: its threads from before, whatever the spin
        assertEquals(2, ReplicatedGradients.SingleThreaded.blasThreadsForOnePass(2, false, 2, 28));
        assertEquals(2, ReplicatedGradients.SingleThreaded.blasThreadsForOnePass(2, false, 2, 4));
        // on oneDNN with two OpenMP threads: one OpenBLAS thread while its workers would spin long, its two with a short spin
        assertEquals(1, ReplicatedGradients.SingleThreaded.blasThreadsForOnePass(2, true, 2, 28));
        assertEquals(1, ReplicatedGradients.SingleThreaded.blasThreadsForOnePass(2, true, 2, 17));
        assertEquals(2, ReplicatedGradients.SingleThreaded.blasThreadsForOnePass(2, true, 2, 16));
        assertEquals(2, ReplicatedGradients.SingleThreaded.blasThreadsForOnePass(2, true, 2, 4));
        // oneDNN on one OpenMP thread (OMP_NUM_THREADS=1): OpenBLAS's second thread is the pass's only way to the other core
        assertEquals(2, ReplicatedGradients.SingleThreaded.blasThreadsForOnePass(2, true, 1, 28));
    }

    /** A replica without parameters that records OpenBLAS's thread setting when it computes a share. */
    private static final class ThreadsSeen extends NoParameters {
        final List<Integer> blasThreads = new java.util.ArrayList<>();

        @Override
        public Batch batch(List<TrainingExample> examples) {
            return new Batch() {
                @Override
                public long[][] targets() {
                    return new long[examples.size()][0];
                }

                @Override
                public int tokens() {
                    return 0;
                }

                @Override
                public void release() {
                }
            };
        }

        @Override
        public synchronized double accumulate(Batch batch, Map<String, INDArray> grads) {
            blasThreads.add(((Nd4jBlas) Nd4j.factory().blas()).getMaxThreads());
            return 0;
        }
    }

    /** A source without parameters: what the thread accounting needs of a replica. */
    private static class NoParameters implements GradientSource {
        @Override
        public Map<String, Long> parameterSizes() {
            return Map.of();
        }

        @Override
        public Map<String, INDArray> trainable() {
            return Map.of();
        }

        @Override
        public Batch batch(List<TrainingExample> examples) {
            throw new UnsupportedOperationException();
        }

        @Override
        public double accumulate(Batch batch, Map<String, INDArray> grads) {
            throw new UnsupportedOperationException();
        }

        @Override
        public double lossSum(Batch batch) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void close() {
        }
    }

    @Test
    void theWholeGraphRunsOneReplicaPerCoreWhileTheCopiesFitAndTheProcessIsNotPinnedToOneThread() {
        long gb = 1L << 30;
        assertEquals(2, GradientSource.Kind.graphReplicas(19_831_072L, 24 * gb, 2, 2));     // the trainer benchmark's model
        assertEquals(2, GradientSource.Kind.graphReplicas(19_831_072L, 24 * gb, 16, 16));   // at most two (memory bandwidth)
        assertEquals(1, GradientSource.Kind.graphReplicas(19_831_072L, 24 * gb, 1, 1));
        assertEquals(1, GradientSource.Kind.graphReplicas(19_831_072L, 24 * gb, 2, 1));     // OMP_NUM_THREADS=1: the demo's steps
        // 0.6 B decoder parameters: one float32 copy fits an eighth of 24 GB, two do not
        assertEquals(1, GradientSource.Kind.graphReplicas(600_000_000L, 24 * gb, 2, 2));
        assertEquals(2, GradientSource.Kind.graphReplicas(300_000_000L, 24 * gb, 2, 2));
    }
}
