package org.mha2mla.cli;

import java.nio.file.Path;

import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.WeightsAudit;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.weights.Checkpoint;

/** The warnings transformers prints when it loads a folder whose tensors do not match config.json, one line each. */
final class ModelWarnings {

    private ModelWarnings() {
    }

    /** Unused, missing and mis-shaped tensors of {@code model} on stderr (headers only: milliseconds for a 7B model). */
    static void print(Path model) {
        VlmConfig config = HfConfigParser.read(model);
        try (Checkpoint weights = Checkpoint.open(model)) {
            WeightsAudit audit = WeightsAudit.of(weights, config, HfConfigParser.readConversion(model));
            for (String w : audit.warnings(weights.description(), config)) System.err.println("mha2mla: warning: " + w);
        }
    }
}
