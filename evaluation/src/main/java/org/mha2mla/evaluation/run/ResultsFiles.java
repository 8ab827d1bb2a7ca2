package org.mha2mla.evaluation.run;

import java.time.Instant;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.benchmarks.Benchmarks;
import org.mha2mla.evaluation.benchmarks.GenerationSettings;
import org.mha2mla.layers.generation.CachePolicy;

/**
 * results.json in the layout of lmms-eval's (results / configs / versions / n-shot / n-samples / config, metric
 * keys {@code "<metric>,<filter>"}) plus {@code kv_bytes_per_token}, and the Markdown table of its
 * {@code make_table}.
 */
final class ResultsFiles {

    /** The {@code filter_list} names of the task YAMLs; tasks without one report under "none". */
    private static final Map<String, String> FILTERS = Map.of("ai2d", "flexible-extract", "realworldqa", "flexible-extract");

    private ResultsFiles() {
    }

    static String filter(String task) {
        return FILTERS.getOrDefault(task, "none");
    }

    static ObjectNode resultsJson(List<TaskResult> results, EvalOptions o) {
        ObjectNode root = Evaluator.JSON.createObjectNode();
        ObjectNode res = root.putObject("results");
        ObjectNode configs = root.putObject("configs");
        ObjectNode versions = root.putObject("versions");
        ObjectNode nShot = root.putObject("n-shot");
        ObjectNode nSamples = root.putObject("n-samples");
        ObjectNode kv = root.putObject("kv_bytes_per_token");
        for (TaskResult r : results) {
            ObjectNode t = res.putObject(r.task());
            t.put("alias", r.task());
            for (Iterator<Map.Entry<String, JsonNode>> it = r.aggregate().fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> m = it.next();
                t.set(m.getKey() + "," + filter(r.task()), m.getValue());
            }
            ObjectNode c = configs.putObject(r.task());
            c.put("task", r.task());
            String hub = TaskData.HUB_DATASETS.get(r.task());
            if (hub != null) c.put("dataset_path", hub);
            c.put("output_type", "generate_until");
            if (Benchmarks.names().contains(r.task())) {
                GenerationSettings g = Benchmarks.byName(r.task()).generation();
                ObjectNode k = c.putObject("generation_kwargs");
                k.put("max_new_tokens", o.maxNewTokens(g.maxNewTokens(o.family())));
                k.put("temperature", g.temperature());
                if (g.topP() != null) k.put("top_p", g.topP());
                k.put("num_beams", g.numBeams());
                k.put("do_sample", g.doSample());
                g.until().forEach(k.putArray("until")::add);
            }
            versions.put(r.task(), "lmms-eval 0.3.x task definition");
            nShot.put(r.task(), 0);
            ObjectNode n = nSamples.putObject(r.task());
            n.put("original", r.totalDocs());
            n.put("effective", r.samples());
            ObjectNode b = kv.putObject(r.task());
            b.put("held", r.kvBytesPerToken());
            b.put("float32_full", r.kvFullBytesPerToken());
        }
        ObjectNode config = root.putObject("config");
        config.put("model", o.family().lmmsEvalModel());
        config.put("model_args", o.model() == null ? "" : "pretrained=" + o.model());
        config.put("limit", o.limit() > 0 ? o.limit() : null);
        config.put("cache_policy", o.policy().label());
        if (o.maxNewTokens() > 0) config.put("gen_kwargs", "max_new_tokens=" + o.maxNewTokens());
        CachePolicy p = o.policy();
        if (p.quantization() != null) {
            ObjectNode q = config.putObject("kv_quantization");
            q.put("bits", p.quantization().bits());
            q.put("group_size", p.quantization().groupSize());
            q.put("residual_length", p.quantization().residualLength());
        }
        if (p.pruning() != null) config.put("kv_pruning", p.pruning().label());
        root.put("date", Instant.now().getEpochSecond());
        double seconds = results.stream().mapToDouble(TaskResult::seconds).sum();
        root.put("total_evaluation_time_seconds", String.format(Locale.ROOT, "%.3f", seconds));
        return root;
    }

    static String markdown(List<TaskResult> results, EvalOptions o) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "%s (%s), cache %s%s%n%n", o.model() == null ? "model" : o.model().getFileName(),
                o.family().lmmsEvalModel(), o.policy().label(), o.limit() > 0 ? ", limit " + o.limit() : ""));
        s.append("| Tasks | Filter | n | Metric | Value | KV bytes/token | of float32 |\n");
        s.append("|---|---|---:|---|---:|---:|---:|\n");
        for (TaskResult r : results) {
            boolean first = true;
            for (Iterator<Map.Entry<String, JsonNode>> it = r.aggregate().fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> m = it.next();
                s.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %.4f | %s | %s |%n",
                        first ? r.task() : "", first ? filter(r.task()) : "", first ? Integer.toString(r.samples()) : "",
                        m.getKey(), m.getValue().doubleValue(),
                        first ? String.format(Locale.ROOT, "%.1f", r.kvBytesPerToken()) : "",
                        first ? String.format(Locale.ROOT, "%.1f%%", 100 * r.kvBytesPerToken() / r.kvFullBytesPerToken()) : ""));
                first = false;
            }
        }
        return s.toString();
    }
}
