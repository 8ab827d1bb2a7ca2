package org.mha2mla.cli;

import java.nio.file.Path;
import java.util.ServiceLoader;

import org.mha2mla.evaluation.run.Evaluator;
import org.mha2mla.layers.mla.CalibrationPasses;
import org.mha2mla.layers.mla.Mha2MlaConverter;

/**
 * {@code --spark [MASTER]} of eval and convert: generation and calibration spread over Apache Spark executors. The
 * spark module implements this and registers it for {@link ServiceLoader}, so the CLI compiles, ships and runs without
 * Spark; {@code ./mha2mla} puts the spark module on the class path when a command names {@code --spark}, and its
 * submit jar holds the CLI for {@code spark-submit}.
 */
public interface SparkBackend {

    /**
     * Starts the Spark application of one command.
     *
     * @param master     a Spark master URL ({@code local[2]}, {@code spark://host:7077}, {@code yarn}); blank for the
     *                   one spark-submit passed, or {@code local[N]} over this machine's N cores
     * @param partitions how many shares the work is cut into (0: the backend's default for the command)
     */
    Session start(String master, int partitions, String appName);

    /** One running Spark application; close it when the command is done. */
    interface Session extends AutoCloseable {

        /**
         * Generation on the executors, each loading the model folder {@code model} (the same path on every machine);
         * {@code progress}: a progress bar on the driver.
         */
        Evaluator.DocGenerator generator(Path model, boolean progress);

        /**
         * Calibration passes on the executors over {@code samples} records of the LLaVA-instruct file {@code calibration}
         * drawn after a shuffle by {@code seed} and capped at {@code maxLength} tokens, as on one machine
         * ({@code ModelFolder.calibrationDraw}); each executor reads and processes its share (paths the same on every
         * machine).
         */
        Calibration calibration(Path model, Path calibration, Path imageRoot, int samples, long seed, int maxLength,
                                Mha2MlaConverter.Options options);

        /** The master and the parallelism, for the command's output. */
        String describe();

        @Override
        void close();
    }

    /** The calibration samples there are and the passes over them. */
    record Calibration(int samples, CalibrationPasses.Opener passes) {
    }

    /** The registered backend; a clear error when the spark module is not on the class path. */
    static SparkBackend load() {
        return ServiceLoader.load(SparkBackend.class).findFirst().orElseThrow(() -> new IllegalArgumentException(
                "--spark needs the spark module on the class path: build it (mvn -DskipTests package) and run ./mha2mla, "
                        + "or spark-submit spark/target/mha2mla-spark-submit.jar"));
    }
}
