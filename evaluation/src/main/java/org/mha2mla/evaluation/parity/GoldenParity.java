package org.mha2mla.evaluation.parity;

import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs a model on the cases of a golden file (keys {@code cN.input_ids}, {@code cN.pixel_values},
 * {@code cN.image_sizes}, {@code cN.image_grid_thw}, {@code cN.logits}, {@code cN.generated_ids}, as
 * written by the transformers fixtures or by this project for its own models) and compares logits and
 * greedy ids. The model is fed the golden processor outputs, so only the model is under test.
 */
public final class GoldenParity {
    private static final Pattern CASE_KEY = Pattern.compile("^c(\\d{1,9})\\.(.+)$");
    /** What every case holds: the model input, and the two outputs it is compared on. */
    private static final List<String> REQUIRED = List.of("input_ids", "logits", "generated_ids");

    /** Per-case outcome; {@code maxAbsLogitDiff} is over every position and vocabulary entry. */
    public record CaseResult(String name, int length, boolean hasImage, double maxAbsLogitDiff,
                             long[] expectedIds, long[] actualIds) {
        public boolean idsMatch() {
            return Arrays.equals(expectedIds, actualIds);
        }

        public boolean passes(double tolerance) {
            return maxAbsLogitDiff <= tolerance && idsMatch();
        }
    }

    private GoldenParity() {
    }

    /**
     * Case names (c0, c1, …) in numeric order: every {@code cN.*} key names a case, and each case must hold
     * {@code input_ids}, {@code logits} and {@code generated_ids} (a case missing one is an error, never skipped).
     */
    public static List<String> caseNames(SafeTensorsFile golden) {
        TreeMap<Integer, List<String>> keys = new TreeMap<>();
        for (String name : golden.names()) {
            Matcher m = CASE_KEY.matcher(name);
            if (m.matches()) keys.computeIfAbsent(Integer.parseInt(m.group(1)), k -> new ArrayList<>()).add(m.group(2));
        }
        if (keys.isEmpty()) {
            throw new IllegalArgumentException(golden.path() + ": no cases (expected keys like c0.input_ids)");
        }
        List<String> out = new ArrayList<>();
        for (Map.Entry<Integer, List<String>> e : keys.entrySet()) {
            String c = "c" + e.getKey();
            for (String required : REQUIRED) {
                if (!e.getValue().contains(required)) {
                    throw new IllegalArgumentException(golden.path() + ": case " + c + " has no " + c + "." + required + " (it has "
                            + String.join(", ", e.getValue()) + ")");
                }
            }
            out.add(c);
        }
        return out;
    }

    /** The processor outputs of one case as model input. */
    public static MultimodalInput input(SafeTensorsFile golden, String c) {
        long[] ids = golden.readLongs(c + ".input_ids");
        INDArray pixels = null;
        if (golden.contains(c + ".pixel_values")) {
            pixels = golden.readFloat32(c + ".pixel_values");
            // LLaVA-NeXT's processor returns [batch, tiles, 3, H, W]; the model takes the tiles of all images stacked.
            if (pixels.rank() == 5) {
                long[] s = pixels.shape();
                pixels = pixels.reshape(s[0] * s[1], s[2], s[3], s[4]);
            }
        }
        int[][] sizes = golden.contains(c + ".image_sizes") ? pairs(golden, c + ".image_sizes", 2) : null;
        int[][] grid = golden.contains(c + ".image_grid_thw") ? pairs(golden, c + ".image_grid_thw", 3) : null;
        return new MultimodalInput(ids, pixels, sizes, grid);
    }

    /** Runs one case: full-sequence logits against {@code cN.logits}, greedy ids against {@code cN.generated_ids}. */
    public static CaseResult run(VisionLanguageModel model, SafeTensorsFile golden, String c) {
        MultimodalInput in = input(golden, c);
        INDArray expected = golden.readFloat32(c + ".logits");
        INDArray actual = model.logits(in);
        if (!Arrays.equals(expected.shape(), actual.shape())) {
            throw new IllegalStateException(golden.path() + ": case " + c + " logits have shape "
                    + Arrays.toString(expected.shape()) + " but the model produced " + Arrays.toString(actual.shape()));
        }
        double maxDiff = actual.sub(expected).amaxNumber().doubleValue();
        long[] expectedIds = golden.readLongs(c + ".generated_ids");
        long[] actualIds = model.generate(in, expectedIds.length, true);
        return new CaseResult(c, in.length(), in.hasImage(), maxDiff, expectedIds, actualIds);
    }

    private static int[][] pairs(SafeTensorsFile golden, String key, int width) {
        long[] flat = golden.readLongs(key);
        if (flat.length % width != 0) {
            throw new IllegalArgumentException(golden.path() + ": " + key + " has " + flat.length + " values, not a multiple of " + width);
        }
        int[][] out = new int[flat.length / width][width];
        for (int i = 0; i < flat.length; i++) out[i / width][i % width] = Math.toIntExact(flat[i]);
        return out;
    }
}
