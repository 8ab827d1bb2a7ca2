package org.mha2mla.importers.image;

import java.nio.file.Files;
import java.nio.file.Path;

import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.config.JsonFields;

/**
 * Where an image processor's settings live in a Hugging Face folder: {@code preprocessor_config.json}
 * (every transformers version writes it), else the {@code image_processor} object of transformers 5's
 * {@code processor_config.json}. Also the shared fields of every processor (rescale, normalise, resample).
 */
final class PreprocessorConfig {

    static final String FILE = "preprocessor_config.json";
    static final String PROCESSOR_FILE = "processor_config.json";
    /** OPENAI_CLIP_MEAN / OPENAI_CLIP_STD of transformers.image_utils (the default of all three processors). */
    static final double[] OPENAI_CLIP_MEAN = {0.48145466, 0.4578275, 0.40821073};
    static final double[] OPENAI_CLIP_STD = {0.26862954, 0.26130258, 0.27577711};

    private PreprocessorConfig() {
    }

    static JsonFields read(Path modelDir) {
        Path file = modelDir.resolve(FILE);
        if (Files.isRegularFile(file)) return JsonFields.read(file);
        Path processor = modelDir.resolve(PROCESSOR_FILE);
        if (Files.isRegularFile(processor)) {
            JsonFields nested = JsonFields.read(processor).object("image_processor");
            if (nested != null) return nested;
        }
        throw new ConfigException(file + ": not found (and no image_processor object in " + PROCESSOR_FILE
                + "): the folder has no image processor settings");
    }

    /** Checks {@code image_processor_type} names the expected class (its Fast / Pil backends included). */
    static void expectType(JsonFields f, String expected) {
        if (!f.has("image_processor_type")) return;
        String type = f.string("image_processor_type", null);
        String base = type.replaceFirst("(Fast|Pil)$", "");
        if (!base.equals(expected)) {
            throw f.error("image_processor_type", "is " + type + ", expected " + expected);
        }
    }

    /** do_rescale/rescale_factor, do_normalize/image_mean/image_std with transformers' defaults. */
    static Normalization normalization(JsonFields f) {
        double rescale = f.bool("do_rescale", true) ? f.number("rescale_factor", 1.0 / 255) : 1.0;
        boolean normalize = f.bool("do_normalize", true);
        double[] mean = normalize ? rgb(f, "image_mean", f.doubles("image_mean", OPENAI_CLIP_MEAN)) : new double[]{0, 0, 0};
        double[] std = normalize ? rgb(f, "image_std", f.doubles("image_std", OPENAI_CLIP_STD)) : new double[]{1, 1, 1};
        for (int c = 0; c < 3; c++) {
            if (!(std[c] > 0)) throw f.error("image_std", "must be positive, got " + std[c]);
        }
        return new Normalization(rescale, mean, std);
    }

    static Resampler.Resampling resample(JsonFields f, Resampler.Backend backend) {
        int code = f.integer("resample", Resampler.Filter.BICUBIC.code);
        try {
            return new Resampler.Resampling(Resampler.Filter.ofCode(code), backend);
        } catch (IllegalArgumentException e) {
            throw f.error("resample", e.getMessage());
        }
    }

    private static double[] rgb(JsonFields f, String field, double[] v) {
        if (v.length == 1) return new double[]{v[0], v[0], v[0]};
        if (v.length != 3) throw f.error(field, "must have 3 values (R, G, B), got " + v.length);
        return v;
    }

    /** A positive int field, required. */
    static int positive(JsonFields f, String field) {
        int v = f.integer(field, null);
        if (v <= 0) throw f.error(field, "must be positive, got " + v);
        return v;
    }

    /**
     * {@code size} / {@code crop_size}: {@code {"shortest_edge": n}}, {@code {"height": h, "width": w}} or a
     * bare int (legacy; transformers' get_size_dict reads it as shortest_edge, or as a square when {@code squareInt}).
     */
    static Size size(JsonFields f, String field, boolean squareInt) {
        if (!f.has(field)) throw f.missing(field);
        if (f.node().get(field).isIntegralNumber()) {
            int n = f.integer(field, null);
            return squareInt ? new Size(null, n, n) : new Size(n, null, null);
        }
        JsonFields s = f.object(field);
        if (s.has("height") || s.has("width")) {
            return new Size(null, positive(s, "height"), positive(s, "width"));
        }
        if (s.has("shortest_edge")) return new Size(positive(s, "shortest_edge"), null, null);
        throw f.error(field, "must hold shortest_edge or height and width, got " + f.node().get(field));
    }

    /** A resize target: the shortest edge (aspect kept) or an exact height × width. */
    record Size(Integer shortestEdge, Integer height, Integer width) {
        boolean isExact() {
            return height != null;
        }
    }
}
