package org.mha2mla.spark;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import org.mha2mla.cli.SparkBackend;
import org.mha2mla.evaluation.run.Evaluator;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.trainer.ModelFolder;
import org.mha2mla.trainer.data.ModelProcessor;
import scala.Tuple2;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;
import scala.runtime.AbstractFunction2;
import scala.runtime.BoxedUnit;

/**
 * The {@link SparkBackend} of the CLI ({@code --spark [MASTER]}): one Spark application per command, and the job shape
 * both uses share: a list of work items, one partition each (optionally pinned to an executor), a function run on the
 * executors per item, and the results handed to the driver as each partition finishes.
 *
 * <p>Settings it adds unless the user set them: no web UI and no console progress bar in local mode (the commands show
 * their own progress), the driver on the loopback address in local mode, and a long
 * {@code spark.locality.wait.process}: a calibration partition's activations live in one executor's memory across the
 * layer-by-layer jobs, so its next task waits for that executor rather than rebuilding them elsewhere (it does when the
 * executor is gone). Speculative execution is always off: two copies of a task would advance one share twice.
 */
public final class SparkJobs implements SparkBackend {

    /** Pending docs per executor core an evaluation is cut into by default (slow docs even out, a crash loses little). */
    static final int EVAL_CHUNKS_PER_CORE = 4;

    @Override
    public Session start(String master, int partitions, String appName) {
        if (partitions < 0) throw new IllegalArgumentException("--partitions must be >= 0, got " + partitions);
        SparkConf conf = new SparkConf().setAppName(appName);
        if (master != null && !master.isBlank()) conf.setMaster(master.strip());
        else if (!conf.contains("spark.master")) conf.setMaster("local[" + Runtime.getRuntime().availableProcessors() + "]");
        boolean local = conf.get("spark.master").startsWith("local");
        if (local) {
            conf.setIfMissing("spark.ui.enabled", "false");
            conf.setIfMissing("spark.driver.host", "127.0.0.1");
            conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
        }
        conf.setIfMissing("spark.ui.showConsoleProgress", "false");
        conf.setIfMissing("spark.log.level", "WARN");
        conf.setIfMissing("spark.locality.wait.process", "30min");
        conf.set("spark.speculation", "false");   // a share must never be advanced by two tasks at once
        return new Jobs(new JavaSparkContext(conf), partitions, local);
    }

    /** One application: its context and the partition counts it cuts work into. */
    static final class Jobs implements Session {
        private final JavaSparkContext context;
        private final int partitions;
        private final boolean local;

        Jobs(JavaSparkContext context, int partitions, boolean local) {
            this.context = context;
            this.partitions = partitions;
            this.local = local;
        }

        /** Task slots over all executors (local[N]: N). */
        int slots() {
            return context.sc().defaultParallelism();
        }

        @Override
        public Evaluator.DocGenerator generator(Path model, boolean progress) {
            int chunks = partitions > 0 ? partitions : EVAL_CHUNKS_PER_CORE * slots();
            return new SparkGeneration(this, model, chunks, progress);
        }

        @Override
        public SparkBackend.Calibration calibration(Path model, Path calibration, Path imageRoot, int samples, long seed, int maxLength,
                                                    Mha2MlaConverter.Options options) {
            int n;
            try (ModelProcessor processor = ModelProcessor.load(model)) {   // the draw is lazy: nothing is encoded here
                n = ModelFolder.calibrationDraw(model, processor, calibration, imageRoot, samples, seed, maxLength, System.out).size();
            }
            int shares = Math.min(n, partitions > 0 ? partitions : slots());
            CalibrationSpec spec = CalibrationSpec.of(model, calibration, imageRoot, seed, maxLength, options);
            return new SparkBackend.Calibration(n, (input, onSample) -> new SparkCalibration(this, spec, n, shares, onSample));
        }

        @Override
        public String describe() {
            return context.sc().master() + ", " + slots() + " task slot" + (slots() == 1 ? "" : "s")
                    + (partitions > 0 ? ", " + partitions + " partitions" : "");
        }

        /**
         * Runs {@code work} on the executors, item i as partition i (on executor {@code locations[i]} where given: a
         * TaskLocation string, {@code executor_<host>_<id>}), and hands each result to {@code onResult} on the driver as
         * its partition finishes.
         */
        <T extends Serializable, U> void run(List<T> items, List<String> locations, Work<T, U> work, BiConsumer<Integer, U> onResult) {
            SparkContext sc = context.sc();
            @SuppressWarnings("unchecked")
            ClassTag<T> itemTag = (ClassTag<T>) (ClassTag<?>) ClassTag$.MODULE$.apply(Serializable.class);
            RDD<T> rdd;
            if (locations == null) {
                rdd = sc.makeRDD(CollectionConverters.asScala(items).toSeq(), items.size(), itemTag);
            } else {
                List<Tuple2<T, scala.collection.immutable.Seq<String>>> placed = new ArrayList<>();
                for (int i = 0; i < items.size(); i++) {
                    List<String> at = locations.get(i) == null ? List.of() : List.of(locations.get(i));
                    placed.add(new Tuple2<>(items.get(i), CollectionConverters.asScala(at).toSeq()));
                }
                rdd = sc.makeRDD(CollectionConverters.asScala(placed).toSeq(), itemTag);
            }
            @SuppressWarnings("unchecked")
            ClassTag<U> resultTag = (ClassTag<U>) (ClassTag<?>) ClassTag$.MODULE$.apply(Object.class);
            try {
                sc.runJob(rdd, new OnePerPartition<>(work), new OnResult<>(onResult), resultTag);
            } catch (Exception e) { // a SparkException, which Scala does not declare
                throw unwrap(e);
            }
        }

        boolean local() {
            return local;
        }

        @Override
        public void close() {
            context.stop();
            if (local) ExecutorState.releaseAll(); // the executors were this JVM
        }
    }

    /** What an executor does with one work item. */
    @FunctionalInterface
    interface Work<T, U> extends Serializable {
        U apply(T item) throws Exception;
    }

    /** {@code runJob}'s per-partition function: every partition holds one item. */
    private static final class OnePerPartition<T, U> extends AbstractFunction1<Iterator<T>, U> implements Serializable {
        private final Work<T, U> work;

        OnePerPartition(Work<T, U> work) {
            this.work = work;
        }

        @Override
        public U apply(Iterator<T> items) {
            T item = items.next();
            try {
                return work.apply(item);
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
        }
    }

    /** {@code runJob}'s result handler, on the driver. */
    private static final class OnResult<U> extends AbstractFunction2<Object, U, BoxedUnit> {
        private final BiConsumer<Integer, U> handler;

        OnResult(BiConsumer<Integer, U> handler) {
            this.handler = handler;
        }

        @Override
        public BoxedUnit apply(Object partition, U result) {
            handler.accept((Integer) partition, result);
            return BoxedUnit.UNIT;
        }
    }

    /**
     * A failed job as the task's own exception where it came back (a bad input names its file in one line), else the
     * SparkException.
     */
    static RuntimeException unwrap(Exception e) {
        Throwable t = e;
        while (t instanceof SparkException && t.getCause() != null) t = t.getCause();
        if (t instanceof RuntimeException r) return r;
        return new IllegalStateException(t.getMessage(), t);
    }
}
