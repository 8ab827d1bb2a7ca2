package org.mha2mla.layers;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;

import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The golden fixtures copied from ../shared/fixtures/hf into src/test/resources/hf. */
public final class Fixtures {

    private Fixtures() {
    }

    public static Path dir(String name) {
        URL url = Fixtures.class.getResource("/hf/" + name + "/config.json");
        if (url == null) throw new IllegalStateException("test resource hf/" + name + " is missing");
        try {
            return Path.of(url.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** golden.safetensors of fixture {@code name}; close it after use. */
    public static SafeTensorsFile golden(String name) {
        return SafeTensorsFile.open(dir(name).resolve("golden.safetensors"));
    }

    /** Max |a − b| after checking the shapes agree (b reshaped to a's shape when only a leading 1 differs). */
    public static double maxAbsDiff(INDArray actual, INDArray expected) {
        if (actual.length() != expected.length()) {
            throw new AssertionError("shape " + java.util.Arrays.toString(actual.shape()) + " vs golden "
                    + java.util.Arrays.toString(expected.shape()));
        }
        INDArray a = actual.reshape(expected.shape()).castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE);
        return a.sub(expected.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE)).amaxNumber().doubleValue();
    }
}
