package org.mha2mla.evaluation.run;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import org.mha2mla.core.Limits;
import org.mha2mla.evaluation.benchmarks.Benchmark;
import org.mha2mla.evaluation.benchmarks.Benchmarks;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.GenerationSettings;
import org.mha2mla.evaluation.scoring.Scoring;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.generation.Generation;

/**
 * The evaluation loop, as lmms-eval's {@code simple_evaluate} with {@code generate_until}: for every doc of a task
 * (dataset order, the first {@code --limit}), the family's prompt → the processor ({@link RequestEncoder}) →
 * greedy generation with the task's max_new_tokens and the run's cache policy → decoded text cut at the family's
 * stop strings → logged; then every logged prediction is scored by {@link Scoring} (filter, strip, metric) and
 * aggregated. Output under {@code out}: {@code predictions/<task>.jsonl} (resumable), {@code samples/<task>.json}
 * (per-example results), and from {@link #report} {@code results.json} and {@code results.md}.
 */
public final class Evaluator {

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final VisionLanguageModel model;
    private final RequestEncoder encoder;
    private final EvalOptions options;

    public Evaluator(VisionLanguageModel model, RequestEncoder encoder, EvalOptions options) {
        this.model = model;
        this.encoder = encoder;
        this.options = options;
    }

    /** Evaluates the named tasks on their data under {@code dataRoot} and writes results.json and results.md. */
    public List<TaskResult> run(List<String> tasks) {
        List<Benchmark> benchmarks = tasks.stream().map(Benchmarks::byName).toList();
        List<Path> data = tasks.stream().map(t -> TaskData.locate(options.dataRoot(), t)).toList(); // fail before generating
        List<TaskResult> results = new ArrayList<>();
        for (int i = 0; i < benchmarks.size(); i++) results.add(evaluate(benchmarks.get(i), data.get(i)));
        report(results);
        return results;
    }

    /**
     * One task on the dataset at {@code data} (what {@code benchmark.stream} reads): generates what the prediction
     * log lacks, scores all, writes {@code samples/<task>.json}.
     */
    public TaskResult evaluate(Benchmark benchmark, Path data) {
        String task = benchmark.name();
        GenerationSettings settings = benchmark.generation();
        int maxNewTokens = options.maxNewTokens(settings.maxNewTokens(options.family()));
        List<String> stops = settings.stopStrings(options.family());
        long total = count(benchmark, data);
        int n = (int) (options.limit() > 0 ? Math.min(options.limit(), total) : total);
        List<Doc> docs = new ArrayList<>();
        List<String> predictions = new ArrayList<>();
        double kvSum = 0;
        int generated = 0;
        long start = System.nanoTime();
        try (PredictionLog log = PredictionLog.open(options.out().resolve("predictions").resolve(task + ".jsonl"),
                logConfig(benchmark, maxNewTokens, stops));
             Stream<Doc> stream = benchmark.stream(data, true);
             ProgressBar bar = options.progress() ? new ProgressBarBuilder().setTaskName(task).setInitialMax(n)
                     .setUpdateIntervalMillis(500).continuousUpdate().build() : null) {
            Iterator<Doc> it = stream.iterator();
            for (int id = 0; id < n && it.hasNext(); id++) {
                Doc doc = it.next();
                ObjectNode entry = log.get(id);
                if (entry == null) {
                    entry = generate(benchmark, doc, id, maxNewTokens, stops);
                    log.append(entry);
                    generated++;
                }
                docs.add(new Doc(doc.fields(), List.of())); // the images are not needed for scoring
                predictions.add(entry.get("prediction").asText());
                kvSum += entry.get("kv_bytes_per_token").doubleValue();
                if (bar != null) {
                    bar.step();
                    bar.setExtraMessage(String.format(Locale.ROOT, "%d new, KV %.0f B/token", generated, kvSum / docs.size()));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(task + ": cannot read " + data, e);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        ObjectNode scored = Scoring.score(benchmark, docs, predictions, true);
        writeJson(options.out().resolve("samples").resolve(task + ".json"), scored);
        return new TaskResult(task, docs.size(), total, generated, (ObjectNode) scored.get("aggregate"),
                docs.isEmpty() ? 0 : kvSum / docs.size(), model.kvCacheBytesPerToken(), seconds, scored);
    }

    /** Writes results.json and results.md for {@code results} (any benchmarks, e.g. the demo's synthetic one). */
    public void report(List<TaskResult> results) {
        writeJson(options.out().resolve("results.json"), ResultsFiles.resultsJson(results, options));
        try {
            Files.writeString(options.out().resolve("results.md"), ResultsFiles.markdown(results, options));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + options.out().resolve("results.md"), e);
        }
    }

    private ObjectNode generate(Benchmark benchmark, Doc doc, int id, int maxNewTokens, List<String> stops) {
        long t0 = System.nanoTime();
        String prompt = benchmark.prompt(doc, options.family());
        MultimodalInput input = encoder.encode(prompt, doc.images());
        // The prompt must fit the model's positions; the generation budget is cut to the positions left (recorded).
        int positions = model.config().textConfig().maxPositionEmbeddings();
        String what = benchmark.name() + " doc " + id;
        Limits.requireSequence(what + ": the prompt plus one answer token", input.length() + 1L, positions);
        Limits.requireAttentionMask(what, 1, input.length(), input.length());
        int budget = (int) Math.min(maxNewTokens, positions - (long) input.length());
        // Stopping once a stop string is out changes nothing: the text is cut at its first occurrence anyway.
        Predicate<long[]> stopWhen = stops.isEmpty() ? ids -> false
                : ids -> stops.stream().anyMatch(encoder.decode(ids)::contains);
        Generation g = model.generate(input, budget, true, options.policy(), stopWhen);
        String raw = encoder.decode(g.tokens());
        ObjectNode e = JSON.createObjectNode();
        e.put("doc_id", id);
        e.put("prediction", benchmark.generation().truncate(options.family(), raw));
        e.put("raw", raw);
        e.put("input_tokens", input.length());
        e.put("new_tokens", g.tokens().length);
        if (budget < maxNewTokens) e.put("max_new_tokens_cut_to", budget);
        e.put("kv_tokens_seen", g.cache().tokensSeen());
        e.put("kv_tokens_held", g.cache().tokensHeld());
        e.put("kv_bytes_held", g.cache().bytesHeld());
        e.put("kv_bytes_per_token", g.cache().bytesPerToken());
        e.put("seconds", (System.nanoTime() - t0) / 1e9);
        return e;
    }

    /** What must match for a prediction log to be resumed. */
    private ObjectNode logConfig(Benchmark benchmark, int maxNewTokens, List<String> stops) {
        ObjectNode c = JSON.createObjectNode();
        c.put("task", benchmark.name());
        c.put("model", options.model() == null ? null : options.model().toString());
        c.put("model_family", options.family().lmmsEvalModel());
        c.put("cache_policy", options.policy().label());
        c.put("max_new_tokens", maxNewTokens);
        stops.forEach(c.putArray("stop_strings")::add);
        return c;
    }

    private static long count(Benchmark benchmark, Path data) {
        try (Stream<Doc> s = benchmark.stream(data, false)) {
            return s.count();
        } catch (IOException e) {
            throw new UncheckedIOException(benchmark.name() + ": cannot read " + data, e);
        }
    }

    static void writeJson(Path file, Object value) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            JSON.writeValue(file.toFile(), value);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    public EvalOptions options() {
        return options;
    }
}
