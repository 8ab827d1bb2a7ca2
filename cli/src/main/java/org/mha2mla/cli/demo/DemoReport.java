package org.mha2mla.cli.demo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.synthetic.ShapesGenerator;

/**
 * The demo's outputs: the accuracy table (per question type, KV bytes per token, reduction against the original
 * model's cache) as {@code results.md} and on the console, every figure in {@code results.json}, and the
 * accuracy-vs-KV-memory plot {@code accuracy_vs_kv.png}. The first row is the reference (the original model).
 */
public final class DemoReport {

    public static final String RESULTS_MD = "results.md";
    public static final String RESULTS_JSON = "results.json";
    public static final String PLOT = "accuracy_vs_kv.png";

    private final DemoPipeline.Settings settings;
    private final long seed;
    private final int pretrainingSteps;
    private final List<DemoPipeline.Evaluation> rows;
    private final double seconds;

    /** @param pretrainingSteps the updates the original model was pretrained for (a time budget may cut the setting's) */
    public DemoReport(DemoPipeline.Settings settings, long seed, int pretrainingSteps, List<DemoPipeline.Evaluation> rows, double seconds) {
        if (rows.isEmpty()) throw new IllegalArgumentException("a report needs at least the original model's row");
        this.settings = settings;
        this.seed = seed;
        this.pretrainingSteps = pretrainingSteps;
        this.rows = rows;
        this.seconds = seconds;
    }

    public void write(Path out) {
        try {
            Files.writeString(out.resolve(RESULTS_MD), markdown());
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.resolve(RESULTS_JSON).toFile(), json());
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot write the demo results (" + e.getMessage() + ")", e);
        }
        AccuracyKvPlot.write(rows, reference(), out.resolve(PLOT));
    }

    /** The original model's cache bytes per token: what every reduction is measured against. */
    double reference() {
        return rows.get(0).kvBytesPerToken();
    }

    /** 1 − held / original, in percent. */
    double reduction(DemoPipeline.Evaluation e) {
        return 100 * (1 - e.kvBytesPerToken() / reference());
    }

    /** The console table: one row per variant. */
    public String table() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-20s %8s", "variant", "overall"));
        for (ShapesGenerator.Type t : ShapesGenerator.Type.values()) sb.append(String.format(Locale.ROOT, " %9s", t.key()));
        sb.append(String.format(Locale.ROOT, " %11s %10s%n", "KV B/token", "reduction"));
        for (DemoPipeline.Evaluation e : rows) {
            sb.append(String.format(Locale.ROOT, "%-20s %7.1f%%", e.variant(), 100 * e.accuracy()));
            for (ShapesGenerator.Type t : ShapesGenerator.Type.values()) sb.append(String.format(Locale.ROOT, " %8.1f%%", 100 * e.accuracy(t)));
            sb.append(String.format(Locale.ROOT, " %11.0f %9.1f%%%n", e.kvBytesPerToken(), reduction(e)));
        }
        return sb.toString();
    }

    String markdown() {
        StringBuilder sb = new StringBuilder();
        sb.append("# mha2mla demo results (").append(settings.name()).append(")\n\n");
        sb.append(String.format(Locale.ROOT, "Held-out synthetic shapes task, %d questions per type; greedy generation with the model's own "
                + "cache; scored by `SyntheticShapes` (exact match after normalisation). KV B/token: bytes the cache held per token "
                + "(all layers), averaged over the questions; reduction against the original model's float32 cache "
                + "(%.0f B/token). Pretraining %d updates × %d examples; total run time %.0f s, seed %d.%n%n", settings.data().testPerType(),
                reference(), pretrainingSteps, settings.batchSize(), seconds, seed));
        sb.append("| variant | what | overall |");
        for (ShapesGenerator.Type t : ShapesGenerator.Type.values()) sb.append(' ').append(t.key()).append(" |");
        sb.append(" KV B/token | reduction | cache |\n|---|---|---:|");
        for (int i = 0; i < ShapesGenerator.Type.values().length; i++) sb.append("---:|");
        sb.append("---:|---:|---|\n");
        for (DemoPipeline.Evaluation e : rows) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %.1f%% |", e.variant(), e.description(), 100 * e.accuracy()));
            for (ShapesGenerator.Type t : ShapesGenerator.Type.values()) sb.append(String.format(Locale.ROOT, " %.1f%% |", 100 * e.accuracy(t)));
            sb.append(String.format(Locale.ROOT, " %.0f | %.1f%% | %s |%n", e.kvBytesPerToken(), reduction(e), e.policy()));
        }
        sb.append("\nFiles: `pretrain_loss.png` (pretraining), `variants/*/training/loss_curve.png` (stage 1 and stage 2 of each "
                + "fine-tuned variant), `").append(PLOT).append("`, `variants/*/conversion_report.json` (kept pairs, KL, SVD losses), "
                + "`eval/*/samples/synthetic_shapes.json` (every answer).\n");
        return sb.toString();
    }

    ObjectNode json() {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        root.put("settings", settings.name());
        root.put("seed", seed);
        root.put("pretraining_steps", pretrainingSteps);
        root.put("seconds", seconds);
        root.put("reference_kv_bytes_per_token", reference());
        root.put("head_dim", settings.headDim());
        ArrayNode list = root.putArray("variants");
        for (DemoPipeline.Evaluation e : rows) {
            ObjectNode r = list.addObject();
            r.put("variant", e.variant());
            r.put("description", e.description());
            r.put("model", e.model().getFileName().toString());
            r.put("cache_policy", e.policy());
            r.put("kv_bytes_per_token", e.kvBytesPerToken());
            r.put("model_kv_bytes_per_token", e.modelBytesPerToken());
            r.put("kv_reduction_percent", reduction(e));
            r.put("relative_accuracy", e.accuracy() / rows.get(0).accuracy());
            r.set("aggregate", e.result().aggregate());
            r.put("eval_seconds", e.result().seconds());
        }
        return root;
    }
}
