package org.mha2mla.layers;

import java.nio.file.Path;

import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The golden fixtures of the test-fixtures module (hf/): folders and golden tensors. */
public final class Fixtures {

    private Fixtures() {
    }

    public static Path dir(String name) {
        return org.mha2mla.fixtures.Fixtures.hf(name);
    }

    /**
     * The processor outputs of golden case {@code c} ("c0": image + text, "c1": text only) of fixture {@code name}, as
     * the model takes them (LLaVA-NeXT: image_sizes; Qwen2.5-VL: image_grid_thw).
     */
    public static MultimodalInput input(String name, String c) {
        try (SafeTensorsFile g = golden(name)) {
            long[] ids = g.readLongs(c + ".input_ids");
            if (!g.contains(c + ".pixel_values")) return MultimodalInput.text(ids);
            INDArray pixels = g.readFloat32(c + ".pixel_values");
            int[][] sizes = g.contains(c + ".image_sizes") ? pairs(g.readLongs(c + ".image_sizes"), 2) : null;
            int[][] grid = g.contains(c + ".image_grid_thw") ? pairs(g.readLongs(c + ".image_grid_thw"), 3) : null;
            return new MultimodalInput(ids, pixels, sizes, grid);
        }
    }

    private static int[][] pairs(long[] flat, int width) {
        int[][] out = new int[flat.length / width][width];
        for (int i = 0; i < flat.length; i++) out[i / width][i % width] = (int) flat[i];
        return out;
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
