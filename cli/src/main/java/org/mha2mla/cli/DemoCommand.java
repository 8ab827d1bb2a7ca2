package org.mha2mla.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import org.mha2mla.cli.demo.DemoPipeline;
import org.mha2mla.core.Limits;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Train a small Qwen2.5-VL from scratch on a synthetic visual task and evaluate it (the embedded demo).")
final class DemoCommand implements Callable<Integer> {

    @Option(names = "--out", defaultValue = "demo-out", description = "Output folder (default ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--quick", description = "Less data and fewer steps (a smoke test of the pipeline, ~3 minutes).")
    boolean quick;

    @Option(names = "--seed", defaultValue = "1234", description = "Seed of the data and the initialisation (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--steps", description = "Exactly N pretraining updates (default: up to 1000, as many as the 15-minute budget allows on this machine).")
    Integer steps;

    @Option(names = "--baselines", description = "Also evaluate the cache baselines: int4/int2 quantization, H2O and TOVA pruning "
            + "of the original cache, int4/int2 of the latent cache (~2.5 more minutes).")
    boolean baselines;

    @Override
    public Integer call() {
        DemoPipeline.Settings s = quick ? DemoPipeline.Settings.quick() : DemoPipeline.Settings.full();
        if (steps != null) s = s.withSteps((int) Limits.requireBetween("--steps", steps, 1, 100_000));
        if (baselines) s = s.withBaselines(true);
        new DemoPipeline(out, s, seed, System.out).run();
        return 0;
    }
}
