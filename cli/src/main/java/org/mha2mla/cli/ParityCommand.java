package org.mha2mla.cli;

import org.mha2mla.core.Limits;
import org.mha2mla.evaluation.parity.GoldenParity;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "parity", mixinStandardHelpOptions = true,
        description = "Run every case of a golden file through the model; compare logits and greedy ids.")
final class ParityCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Hugging Face model folder (original or converted).")
    Path model;

    @Option(names = "--golden", required = true, description = "Golden safetensors (keys c0.input_ids, c0.logits, …).")
    Path golden;

    @Option(names = "--tol", defaultValue = "1e-4", description = "Largest allowed absolute logits difference (default ${DEFAULT-VALUE}).")
    double tolerance;

    @Override
    public Integer call() {
        // A negative or NaN tolerance would fail a matching model; an infinite one would pass any.
        Limits.requireFiniteAtLeast("--tol", tolerance, 0);
        ModelWarnings.print(model);
        boolean allPass = true;
        try (VisionLanguageModel vlm = VlmLoader.load(model); SafeTensorsFile file = SafeTensorsFile.open(golden)) {
            System.out.printf("%-5s %6s %-6s %16s  %s%n", "case", "tokens", "input", "max|Δ logits|", "greedy ids");
            for (String c : GoldenParity.caseNames(file)) {
                GoldenParity.CaseResult r = GoldenParity.run(vlm, file, c);
                boolean pass = r.passes(tolerance);
                allPass &= pass;
                System.out.printf("%-5s %6d %-6s %16.3e  %s%s%n", r.name(), r.length(), r.hasImage() ? "image" : "text",
                        r.maxAbsLogitDiff(), r.idsMatch() ? "identical" : "DIFFER",
                        pass ? "" : "   <-- FAIL (tol " + tolerance + ")");
            }
        }
        System.out.println(allPass ? "parity: PASS" : "parity: FAIL");
        return allPass ? 0 : 3;
    }
}
