package org.mha2mla.importers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.mha2mla.fixtures.Fixtures;

/** The transformers 5.17 fixtures (the test-fixtures module's hf/): folders, golden tensors and case.json. */
public final class HfFixtures {

    public static final String[] NAMES = {"llava", "llava_next", "qwen2_5_vl"};

    private HfFixtures() {
    }

    public static Path dir(String name) {
        return Fixtures.hf(name);
    }

    public static SafeTensorsFile golden(String name) {
        return SafeTensorsFile.open(dir(name).resolve("golden.safetensors"));
    }

    /** case.json's {@code cases[i]}. */
    public static JsonNode testCase(String name, int i) {
        try {
            return new ObjectMapper().readTree(Files.readString(dir(name).resolve("case.json"))).get("cases").get(i);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static double maxAbsDiff(INDArray a, INDArray b) {
        return Transforms.abs(a.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).sub(b.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE)))
                .maxNumber().doubleValue();
    }

    /** A copy of a fixture folder in {@code tmp} that tests may break. */
    public static Path copy(String name, Path tmp) {
        try {
            Path out = Files.createDirectories(tmp.resolve(name));
            try (var files = Files.list(dir(name))) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    if (!f.getFileName().toString().equals("model.safetensors")) Files.copy(f, out.resolve(f.getFileName()));
                }
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
