package org.mha2mla.trainer;

import java.nio.file.Path;
import org.mha2mla.fixtures.Fixtures;

/** The fixture models of the test-fixtures module (hf/). */
final class TestFixtures {

    private TestFixtures() {
    }

    static Path dir(String name) {
        return Fixtures.hf(name);
    }
}
