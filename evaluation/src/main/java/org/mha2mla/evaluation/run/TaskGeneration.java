package org.mha2mla.evaluation.run;

import java.io.Serializable;
import java.util.List;
import java.util.function.Predicate;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.core.Limits;
import org.mha2mla.evaluation.benchmarks.Benchmark;
import org.mha2mla.evaluation.benchmarks.Benchmarks;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.GenerationSettings;
import org.mha2mla.evaluation.benchmarks.ModelFamily;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generation;

/**
 * How one task's docs are generated, lmms-eval's {@code generate_until} request of a doc: the family's prompt → the
 * processor ({@link RequestEncoder}) → greedy generation with the task's max_new_tokens and the run's cache policy →
 * decoded text cut at the family's stop strings. {@link #predict} is the per-document step of an evaluation, the same
 * wherever it runs (this process, or a Spark executor holding its own copy of the model: the record is serializable).
 *
 * @param task         lmms-eval task name ({@link Benchmarks#byName})
 * @param family       the lmms-eval model wrapper whose prompts and stop strings apply
 * @param policy       how generation keeps its cache
 * @param maxNewTokens the token budget (the task's own, or the run's cap)
 * @param stops        the stop strings the output is cut at
 */
public record TaskGeneration(String task, ModelFamily family, CachePolicy policy, int maxNewTokens, List<String> stops)
        implements Serializable {

    public TaskGeneration {
        stops = List.copyOf(stops);
    }

    /** The generation of {@code benchmark}'s docs in a run with {@code options}. */
    public static TaskGeneration of(Benchmark benchmark, EvalOptions options) {
        GenerationSettings settings = benchmark.generation();
        return new TaskGeneration(benchmark.name(), options.family(), options.policy(),
                options.maxNewTokens(settings.maxNewTokens(options.family())), settings.stopStrings(options.family()));
    }

    /** The task's benchmark, by name (on another machine: the task's own, as the run's was). */
    public Benchmark benchmark() {
        return Benchmarks.byName(task);
    }

    /**
     * The prediction-log entry of doc {@code id} of {@code benchmark} (this task's): {@code prediction} (cut at the stop strings), {@code raw}, token
     * counts, what the cache held at the end, and the seconds it took.
     */
    public ObjectNode predict(Benchmark benchmark, VisionLanguageModel model, RequestEncoder encoder, Doc doc, int id) {
        long t0 = System.nanoTime();
        String prompt = benchmark.prompt(doc, family);
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
        Generation g = model.generate(input, budget, true, policy, stopWhen);
        String raw = encoder.decode(g.tokens());
        ObjectNode e = Evaluator.JSON.createObjectNode();
        e.put("doc_id", id);
        e.put("prediction", benchmark.generation().truncate(family, raw));
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

    /** What must match for a prediction log to be resumed ({@link PredictionLog}'s config line). */
    ObjectNode logConfig(EvalOptions options) {
        ObjectNode c = Evaluator.JSON.createObjectNode();
        c.put("task", task);
        c.put("model", options.model() == null ? null : options.model().toString());
        c.put("model_family", family.lmmsEvalModel());
        c.put("cache_policy", policy.label());
        c.put("max_new_tokens", maxNewTokens);
        stops.forEach(c.putArray("stop_strings")::add);
        return c;
    }
}
