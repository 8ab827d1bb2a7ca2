package org.mha2mla.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

import org.mha2mla.importers.init.ModelInitializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "init", mixinStandardHelpOptions = true,
        description = "Write a Hugging Face model folder with random weights at a config's real shapes "
                + "(as transformers' from_config + save_pretrained would), for tests and benchmarks.")
final class InitCommand implements Callable<Integer> {

    @Option(names = "--config", required = true,
            description = "A bundled paper config (llava-1.5-7b, llama3-llava-next-8b, qwen2.5-vl-7b-instruct) or a path to a config.json.")
    String config;

    @Option(names = "--out", required = true, description = "Output folder (refused if not empty, unless --overwrite).")
    Path out;

    @Option(names = "--dtype", description = "Stored dtype: bf16, f16 or f32 (default: the config's torch_dtype).")
    String dtype;

    @Option(names = "--shard-size", defaultValue = "4GB",
            description = "Largest weight file, as save_pretrained's max_shard_size: 4GB = 4e9 bytes, 2GiB, 500MB (default ${DEFAULT-VALUE}).")
    String shardSize;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random weights (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--from", description = "Folder to take the tokenizer and chat template from (default: a small one of the same family, bundled).")
    Path from;

    @Option(names = "--overwrite", description = "Replace a non-empty --out.")
    boolean overwrite;

    @Option(names = "--progress", negatable = true, defaultValue = "true", fallbackValue = "true", description = "Show a progress bar (default on).")
    boolean progress;

    @Override
    public Integer call() {
        ModelInitializer.Options options = ModelInitializer.Options.builder()
                .config(config).out(out)
                .dtype(dtype == null ? null : ModelInitializer.parseDtype(dtype))
                .shardBytes(ModelInitializer.parseShardSize(shardSize))
                .seed(seed).from(from).overwrite(overwrite).progress(progress)
                .build();
        ModelInitializer.Result r = ModelInitializer.run(options);
        System.out.printf(Locale.ROOT, "wrote %s: %s, %,d parameters, %s, %.2f GB of random weights (seed %d) in %s%n",
                r.dir(), r.modelType(), r.parameters(), r.dtype(), r.bytes() / 1e9, seed, String.join(", ", r.weightFiles()));
        System.out.println("check: " + r.check());
        return 0;
    }
}
