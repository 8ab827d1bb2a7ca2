package org.mha2mla.importers.image;

import java.net.URISyntaxException;
import java.nio.file.Path;

/** The transformers fixtures under src/test/resources/hf. */
final class Fixtures {
    private Fixtures() {
    }

    static Path dir(String name) {
        try {
            return Path.of(Fixtures.class.getResource("/hf/" + name + "/config.json").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
