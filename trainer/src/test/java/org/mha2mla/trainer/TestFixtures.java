package org.mha2mla.trainer;

import java.nio.file.Path;
import org.mha2mla.fixtures.Fixtures;

/** The fixture models of the test-fixtures module (hf/). */
final class TestFixtures {

    private TestFixtures() {
    }

    /** A whole-graph stage (the {@code train} command's source for models of this size) over {@code model}. */
    static PeftStage stage(org.mha2mla.layers.VisionLanguageModel model, FreezeMask mask, AdamW.Config adam, double maxGradNorm) {
        return new PeftStage(WholeGraphGradients.decoder(model, mask), mask, adam, maxGradNorm);
    }

    static Path dir(String name) {
        return Fixtures.hf(name);
    }
}
