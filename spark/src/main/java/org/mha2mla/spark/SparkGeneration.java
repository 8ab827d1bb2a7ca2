package org.mha2mla.spark;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import org.mha2mla.evaluation.benchmarks.Benchmark;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.run.Evaluator;
import org.mha2mla.evaluation.run.TaskGeneration;

/**
 * An evaluation's generation on Spark executors: the docs a prediction log lacks are cut into contiguous chunks, one
 * partition each; an executor task reads its chunk's docs from the dataset (the same path on every machine), generates
 * them with a copy of the model it loaded once ({@link ExecutorState#borrow}) through the same per-document step as a
 * single-process run ({@link TaskGeneration#predict}), and returns the log entries. The driver logs them in doc order
 * as chunks finish (a chunk done before an earlier one waits for it), so an interrupted run resumes from every doc
 * logged; scoring is then the {@link Evaluator}'s, as for a run on one machine.
 */
final class SparkGeneration implements Evaluator.DocGenerator {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final SparkJobs.Jobs jobs;
    private final String model;
    private final int chunks;
    private final boolean progress;

    SparkGeneration(SparkJobs.Jobs jobs, Path model, int chunks, boolean progress) {
        this.jobs = jobs;
        this.model = model.toAbsolutePath().toString();
        this.chunks = chunks;
        this.progress = progress;
    }

    /** One partition's work: docs {@code ids} (ascending) of the dataset at {@code data}. */
    record Chunk(TaskGeneration task, String model, String data, int[] ids) implements Serializable {
    }

    @Override
    public void generate(TaskGeneration task, Path data, int[] pending, Consumer<ObjectNode> log) {
        int n = Math.min(chunks, pending.length);
        List<Chunk> work = new ArrayList<>();
        for (int c = 0; c < n; c++) {
            int[] ids = Arrays.copyOfRange(pending, (int) ((long) pending.length * c / n), (int) ((long) pending.length * (c + 1) / n));
            work.add(new Chunk(task, model, data.toAbsolutePath().toString(), ids));
        }
        List<List<String>> done = new ArrayList<>();
        for (int c = 0; c < n; c++) done.add(null);
        int[] logged = {0};
        try (ProgressBar bar = progress ? new ProgressBarBuilder().setTaskName(task.task()).setInitialMax(pending.length)
                .setUpdateIntervalMillis(500).continuousUpdate().build() : null) {
            jobs.run(work, null, SparkGeneration::generateChunk, (c, entries) -> {
                done.set(c, entries);
                if (bar != null) bar.stepBy(entries.size());
                while (logged[0] < n && done.get(logged[0]) != null) {
                    for (String line : done.get(logged[0])) log.accept(parse(line));
                    done.set(logged[0]++, List.of());
                }
            });
        }
    }

    private static ObjectNode parse(String line) {
        try {
            return (ObjectNode) JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("an executor returned a prediction that is not JSON: " + line, e);
        }
    }

    /** On an executor: the chunk's docs generated, as prediction-log lines. */
    static List<String> generateChunk(Chunk chunk) {
        Benchmark benchmark = chunk.task().benchmark();
        int[] ids = chunk.ids();
        List<String> lines = new ArrayList<>();
        ExecutorState.Loaded loaded = ExecutorState.borrow(chunk.model());
        try (Stream<Doc> stream = benchmark.stream(Path.of(chunk.data()), true)) {
            Iterator<Doc> it = stream.iterator();
            int next = 0;
            for (int id = 0; next < ids.length && it.hasNext(); id++) {
                Doc doc = it.next();
                if (id != ids[next]) continue;
                lines.add(JSON.writeValueAsString(chunk.task().predict(benchmark, loaded.model(), loaded.encoder(), doc, id)));
                next++;
            }
            if (next < ids.length) throw new IllegalStateException(chunk.task().task() + ": " + chunk.data() + " has no doc " + ids[next]);
        } catch (IOException e) {
            throw new UncheckedIOException(chunk.task().task() + ": cannot read " + chunk.data(), e);
        } finally {
            ExecutorState.giveBack(chunk.model(), loaded);
        }
        return lines;
    }
}
