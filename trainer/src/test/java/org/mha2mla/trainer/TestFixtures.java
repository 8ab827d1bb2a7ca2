package org.mha2mla.trainer;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;

/** The fixture models copied from ../shared/fixtures/hf into src/test/resources/hf. */
final class TestFixtures {

    private TestFixtures() {
    }

    /** A whole-graph stage (the {@code train} command's source for models of this size) over {@code model}. */
    static PeftStage stage(org.mha2mla.layers.VisionLanguageModel model, FreezeMask mask, AdamW.Config adam, double maxGradNorm) {
        return new PeftStage(WholeGraphGradients.decoder(model, mask), mask, adam, maxGradNorm);
    }

    static Path dir(String name) {
        URL url = TestFixtures.class.getResource("/hf/" + name + "/config.json");
        if (url == null) throw new IllegalStateException("test resource hf/" + name + " is missing");
        try {
            return Path.of(url.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
