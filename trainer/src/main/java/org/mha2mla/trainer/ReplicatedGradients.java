package org.mha2mla.trainer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.mha2mla.layers.text.OneDnnHelpers;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Environment;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;
import org.nd4j.nativeblas.Nd4jBlas;

/**
 * Data parallelism on one machine: copies of a model's graph (same weights, same mask), each computing the gradients of
 * a contiguous share of every micro-batch on a thread of its own; the shares' sums are added, so the update is the one
 * graph's up to float summation order. The first copy's parameters are the trained ones; the others take their values
 * after every update ({@link #updated}).
 *
 * <p>Why: ND4J runs a small model's many small ops faster on one OpenMP thread than on two, so on two cores two graphs
 * on half a batch each beat one graph on the whole batch (figures in benchmarks/pretrain/README.md and
 * benchmarks/trainer/README.md). So while a source of several replicas is open, ND4J's ops and OpenBLAS run on the
 * thread that calls them ({@link SingleThreaded}): the replicas are the parallelism, one per core. That setting is
 * the process's; closing the last such source puts back what it was. A micro-batch of one example runs on the first
 * replica alone, and the other core would idle: for that pass OpenBLAS gets the threads it had before, unless the
 * graph's products run on oneDNN, whose OpenMP threads then take the other core ({@link SingleThreaded#blasForOnePass});
 * ND4J's own ops stay on one thread, where its small ops run faster.
 */
public final class ReplicatedGradients implements GradientSource {

    private final List<GradientSource> replicas;
    private final List<Map<String, INDArray>> shardGrads = new ArrayList<>();
    private final ExecutorService pool;
    /** Whether this source holds ND4J and OpenBLAS at one thread ({@link SingleThreaded}) until it is closed. */
    private boolean singleThreaded;

    /** The shares of one micro-batch, one per replica (fewer when the batch has fewer examples than replicas). */
    record Sharded(List<Batch> shards, long[][] targets, int tokens) implements Batch {
        @Override
        public void release() {
            shards.forEach(Batch::release);
        }
    }

    /** {@code replicas} copies of one model's source; the first is the trained one. */
    public ReplicatedGradients(List<GradientSource> replicas) {
        if (replicas.isEmpty()) throw new IllegalArgumentException("need at least one replica");
        this.replicas = List.copyOf(replicas);
        for (int r = 1; r < replicas.size(); r++) {
            Map<String, INDArray> g = new LinkedHashMap<>();
            replicas.get(r).trainable().forEach((n, p) -> g.put(n, p.ulike()));
            shardGrads.add(g);
        }
        // Daemon threads: idle workers must not keep the JVM alive.
        this.pool = replicas.size() == 1 ? null : Executors.newFixedThreadPool(replicas.size() - 1, task -> {
            Thread t = new Thread(task, "gradient-replica");
            t.setDaemon(true);
            return t;
        });
        if (replicas.size() > 1) {
            SingleThreaded.acquire();
            singleThreaded = true;
        }
        updated();
    }

    /**
     * ND4J's op threads (libnd4j's {@code maxThreads} and {@code maxMasterThreads}) and OpenBLAS's threads, set to one
     * while any source of several replicas is open and put back as they were when the last one closes (counted, so
     * sources opened side by side do not restore each other's setting). Two replicas with two threads each on two
     * cores took longer than with one (benchmarks/trainer/README.md).
     */
    record SingleThreaded(int maxThreads, int maxMasterThreads, int blasThreads) {
        private static int holders;
        private static SingleThreaded before;
        /** This process's OpenBLAS spin ({@link #blasSpinLog2}); the environment does not change after start. */
        private static final int BLAS_SPIN_LOG2 = blasSpinLog2(System.getenv("OPENBLAS_THREAD_TIMEOUT"));

        static synchronized void acquire() {
            if (holders++ > 0) return;
            Environment env = Nd4j.getEnvironment();
            Nd4jBlas blas = Nd4j.factory().blas() instanceof Nd4jBlas b ? b : null;
            before = new SingleThreaded(env.maxThreads(), env.maxMasterThreads(), blas == null ? 0 : blas.getMaxThreads());
            env.setMaxThreads(1);
            env.setMaxMasterThreads(1);
            if (blas != null) blas.setMaxThreads(1);
        }

        /**
         * Runs {@code pass}, a pass that only one replica runs, with OpenBLAS at {@link #blasThreadsForOnePass(int)}
         * threads, so that the other core works too. Only while this is the one source holding the setting: a second
         * source's replicas may be running beside it on one thread each.
         */
        static <T> T blasForOnePass(Supplier<T> pass) {
            Nd4jBlas blas = Nd4j.factory().blas() instanceof Nd4jBlas b ? b : null;
            boolean raised;
            synchronized (SingleThreaded.class) {
                int threads = holders == 1 && before != null ? blasThreadsForOnePass(before.blasThreads) : 0;
                raised = blas != null && threads > 1;
                if (raised) blas.setMaxThreads(threads);
            }
            if (!raised) return pass.get();
            try {
                return pass.get();
            } finally {
                synchronized (SingleThreaded.class) {
                    if (holders > 0) blas.setMaxThreads(1);
                }
            }
        }

        /**
         * OpenBLAS's threads for a pass that one replica runs alone, in this process: the threads it had before
         * {@link #acquire} ({@code before}; the trainer benchmark's updates at batch 1 took 8 % less time in stage 1 and
         * 23 % less in stage 2 than on one thread), except one where the graph's products run on oneDNN
         * ({@code productsOnOneDnn}) with {@code ompThreads} ≥ 2 OpenMP threads (oneDNN's) and OpenBLAS's workers spin
         * long after each product ({@code spinLog2}, {@link #blasSpinLog2}). OpenBLAS then keeps only the products
         * oneDNN's helper does not take (it takes rank 2: attention's batched rank-4 products and the RMSNorm's small
         * ones stay), and its worker, spinning on {@code sched_yield} between them, holds the core that oneDNN's OpenMP
         * worker needs: that worker then wakes on the calling thread's core and preempts it (a scheduler trace of the
         * benchmark's update). Stages 1 and 2 at batch 1 under OpenBLAS's default spin: 7–34 % less time per update on
         * one OpenBLAS thread (six pairs). Under the launcher's short spin ({@code OPENBLAS_THREAD_TIMEOUT=4}) the second
         * thread no longer holds the core and is kept: one thread was not faster there (seven pairs). Figures in
         * benchmarks/trainer/README.md, "One OpenBLAS thread beside oneDNN's".
         */
        static int blasThreadsForOnePass(int before) {
            return blasThreadsForOnePass(before, OneDnnHelpers.productsOnOneDnn(),
                    NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads(), BLAS_SPIN_LOG2);
        }

        /** {@link #blasThreadsForOnePass(int)} for the given products' kernels, OpenMP threads and OpenBLAS spin. */
        static int blasThreadsForOnePass(int before, boolean productsOnOneDnn, int ompThreads, int spinLog2) {
            return productsOnOneDnn && ompThreads > 1 && spinLog2 > SHORT_SPIN_LOG2 ? 1 : before;
        }

        /**
         * A spin of at most 2^16 cycles (≈ 20 µs) counts as short: less than one of ND4J's ops between two products.
         * Measured at the two ends only: 4 (the launcher's) and 28 (OpenBLAS's default).
         */
        static final int SHORT_SPIN_LOG2 = 16;

        /**
         * log2 of the cycles OpenBLAS's workers spin after a product before they sleep, as OpenBLAS 0.3.19 reads it
         * when it loads: {@code OPENBLAS_THREAD_TIMEOUT} (C's atoi; a value ≤ 0 or none leaves the build's 28),
         * clamped to [4, 30].
         */
        static int blasSpinLog2(String threadTimeout) {
            int t = threadTimeout == null ? 0 : atoi(threadTimeout);
            return t <= 0 ? 28 : Math.max(4, Math.min(30, t));
        }

        /** C's atoi: optional leading blanks and sign, then digits up to the first other character; 0 if none. */
        private static int atoi(String s) {
            Matcher m = Pattern.compile("^\\s*([+-]?\\d{1,9})").matcher(s);
            return m.find() ? Integer.parseInt(m.group(1)) : 0;
        }

        static synchronized void release() {
            if (--holders > 0) return;
            Environment env = Nd4j.getEnvironment();
            env.setMaxThreads(before.maxThreads);
            env.setMaxMasterThreads(before.maxMasterThreads);
            if (before.blasThreads > 0 && Nd4j.factory().blas() instanceof Nd4jBlas b) b.setMaxThreads(before.blasThreads);
            before = null;
        }
    }

    /** Replicas for {@code cpus} cores: one per core, at most 2 (the cores share memory bandwidth; see the class comment). */
    public static int replicasFor(int cpus) {
        return Math.min(2, Math.max(1, cpus));
    }

    public List<GradientSource> replicas() {
        return replicas;
    }

    @Override
    public Map<String, Long> parameterSizes() {
        return replicas.get(0).parameterSizes();
    }

    @Override
    public Map<String, INDArray> trainable() {
        return replicas.get(0).trainable();
    }

    /** Contiguous shares, each prepared by its replica (on this thread: preparing shares the processor, and costs little). */
    @Override
    public Batch batch(List<TrainingExample> examples) {
        int shards = Math.min(replicas.size(), examples.size());
        List<Batch> parts = new ArrayList<>();
        for (int i = 0; i < shards; i++) {
            parts.add(replicas.get(i).batch(examples.subList(i * examples.size() / shards, (i + 1) * examples.size() / shards)));
        }
        List<long[]> targets = new ArrayList<>();
        int tokens = 0;
        for (Batch b : parts) {
            targets.addAll(List.of(b.targets()));
            tokens += b.tokens();
        }
        return new Sharded(parts, targets.toArray(new long[0][]), tokens);
    }

    @Override
    public double accumulate(Batch batch, Map<String, INDArray> grads) {
        List<Batch> shards = ((Sharded) batch).shards();
        List<Future<Double>> others = new ArrayList<>();
        for (int i = 1; i < shards.size(); i++) {
            GradientSource r = replicas.get(i);
            Batch part = shards.get(i);
            Map<String, INDArray> g = shardGrads.get(i - 1);
            others.add(pool.submit(() -> {
                for (INDArray a : g.values()) a.assign(0);
                return r.accumulate(part, g);
            }));
        }
        Supplier<Double> first = () -> replicas.get(0).accumulate(shards.get(0), grads);
        double sum = shards.size() == 1 && singleThreaded ? SingleThreaded.blasForOnePass(first) : first.get();
        try {
            for (Future<Double> f : others) sum += f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the replicas computed their gradients", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("a gradient replica failed: " + e.getCause().getMessage(), e.getCause());
        }
        for (int i = 1; i < shards.size(); i++) {
            Map<String, INDArray> g = shardGrads.get(i - 1);
            grads.forEach((n, a) -> a.addi(g.get(n)));
        }
        return sum;
    }

    @Override
    public double lossSum(Batch batch) {
        List<Batch> shards = ((Sharded) batch).shards();
        double sum = 0;
        for (int i = 0; i < shards.size(); i++) sum += replicas.get(i).lossSum(shards.get(i));
        return sum;
    }

    /** The other replicas take the first one's parameters. */
    @Override
    public void updated() {
        Map<String, INDArray> master = replicas.get(0).trainable();
        for (int r = 1; r < replicas.size(); r++) {
            replicas.get(r).trainable().forEach((n, p) -> p.assign(master.get(n)));
        }
    }

    @Override
    public void close() {
        if (pool != null) pool.shutdownNow();
        replicas.forEach(GradientSource::close);
        if (singleThreaded) {
            singleThreaded = false;
            SingleThreaded.release();
        }
    }
}
