package org.mha2mla.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import org.mha2mla.Mha2Mla;
import org.mha2mla.core.Limits;
import org.mha2mla.evaluation.run.CachePolicyArgs;
import org.mha2mla.evaluation.run.EvalOptions;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.KvQuantization;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a model on lmms-eval benchmarks with greedy generation (optionally a quantized or pruned cache); "
                + "writes results.json, results.md and resumable prediction logs under --out.")
final class EvalCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Hugging Face model folder (original or converted).")
    Path model;

    @Option(names = "--tasks", required = true, split = ",",
            description = "Comma-separated tasks: ai2d, gqa, pope, seedbench, realworldqa, mmbench_en_dev, chartqa, docvqa_val; "
                    + "synthetic_shapes (the demo's held-out split: --data-root demo-out/data).")
    List<String> tasks;

    @Option(names = "--data-root", required = true,
            description = "Folder holding one dataset copy per task, named after the task (pope) or its hub repository (POPE).")
    Path dataRoot;

    @Option(names = "--out", defaultValue = "eval-results", description = "Output folder (default ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--limit", defaultValue = "0", description = "Only the first N docs of each task (0 = all).")
    int limit;

    @Option(names = "--max-new-tokens", defaultValue = "0",
            description = "Cap every task's max_new_tokens (lmms-eval --gen_kwargs max_new_tokens=N; 0 = the task's own).")
    int maxNewTokens;

    @Option(names = "--kv-quant", description = "Quantize the stored cache: int4, int2 or int8 (per-group asymmetric).")
    String kvQuant;

    @Option(names = "--kv-group", defaultValue = "" + KvQuantization.DEFAULT_GROUP_SIZE,
            description = "Values per quantization group (default ${DEFAULT-VALUE}; a smaller token row is one group).")
    int kvGroup;

    @Option(names = "--kv-residual", defaultValue = "" + KvQuantization.DEFAULT_RESIDUAL_LENGTH,
            description = "Recent tokens kept in full precision before quantization, as transformers' residual_length "
                    + "(default ${DEFAULT-VALUE}; 0 quantizes every token at once).")
    int kvResidual;

    @Option(names = "--prune", description = "Cache pruning baseline: h2o or tova.")
    String prune;

    @Option(names = "--budget", description = "Pruning budget: a fraction of the prompt (0.5) or a token count (64).")
    String budget;

    @Option(names = "--recent", defaultValue = "0.5", description = "H2O: share of the budget for the recent window (default ${DEFAULT-VALUE}).")
    double recent;

    @Option(names = "--text-through-cache", description = "Prefill only up to the last image token and decode the text after it "
            + "through the (quantized or pruned) cache, so that short answers read the compressed image context.")
    boolean textThroughCache;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Option(names = "--overwrite", description = "Replace --out even if it is a non-empty folder eval did not write (kept until the "
            + "new results are complete); eval's own folder is always continued.")
    boolean overwrite;

    @Option(names = "--spark", arity = "0..1", fallbackValue = "", paramLabel = "MASTER",
            description = "Generate on Apache Spark executors: local[N], spark://host:port, yarn; without MASTER the one "
                    + "spark-submit set, else local[cores]. The model folder and --data-root must be at the same path on every machine.")
    String spark;

    @Option(names = "--partitions", defaultValue = "0",
            description = "With --spark: shares the pending docs are cut into (0 = 4 per executor core; more even out slow docs).")
    int partitions;

    @Override
    public Integer call() throws Exception {
        CachePolicy policy = CachePolicyArgs.parse(kvQuant, kvGroup, kvResidual, prune, budget, recent);
        if (textThroughCache) policy = policy.withTextAfterImageThroughCache();
        Limits.requireAtLeast("--limit", limit, 0);
        Limits.requireAtLeast("--max-new-tokens", maxNewTokens, 0);
        ModelWarnings.print(model);
        EvalOptions options = EvalOptions.builder(model, dataRoot, out).limit(limit).maxNewTokens(maxNewTokens).policy(policy)
                .progress(!noProgress).build();
        Path written;
        if (spark == null) {
            written = Mha2Mla.evaluate(tasks, options, overwrite, null).dir();
        } else {
            try (SparkBackend.Session session = SparkBackend.load().start(spark, partitions, "mha2mla eval " + model.getFileName())) {
                System.err.println("eval on Spark: " + session.describe());
                written = Mha2Mla.evaluate(tasks, options, overwrite, session.generator(model, !noProgress)).dir();
            }
        }
        System.out.print(Files.readString(written.resolve("results.md")));
        System.out.println("wrote " + written.resolve("results.json"));
        return 0;
    }
}
