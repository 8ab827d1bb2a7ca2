package org.mha2mla.layers;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.family.FamilySpecs;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.llava.LlavaModel;
import org.mha2mla.layers.llava.LlavaNextModel;
import org.mha2mla.layers.qwen25vl.Qwen25VlModel;

/**
 * The one place this module registers model families, as transformers' {@code MODEL_MAPPING} maps a config's
 * {@code model_type} to a model class: each entry builds the family's model over weights under canonical keys. It adds
 * the model builder on top of the importers' {@link FamilySpecs} (config parser, key layout, processor), keyed by the
 * same model_type; a family registered there without a builder here is refused when this class loads.
 */
public final class Families {

    /** Builds a family's model from its parsed config, the folder's conversion (or null) and its weights. */
    @FunctionalInterface
    public interface Builder {
        VisionLanguageModel build(VlmConfig config, Mha2MlaConfig conversion, TensorSource weights);
    }

    private static final Map<String, Builder> BUILDERS = new LinkedHashMap<>();

    static {
        BUILDERS.put("llava", (c, conversion, w) -> new LlavaModel((LlavaConfig) c, conversion, w));
        BUILDERS.put("llava_next", (c, conversion, w) -> new LlavaNextModel((LlavaConfig) c, conversion, w));
        BUILDERS.put("qwen2_5_vl", (c, conversion, w) -> new Qwen25VlModel((Qwen25VlConfig) c, conversion, w));
        if (!BUILDERS.keySet().equals(FamilySpecs.modelTypes())) {
            throw new IllegalStateException("model families registered in the importers (" + FamilySpecs.modelTypes()
                    + ") and with a model builder (" + BUILDERS.keySet() + ") differ");
        }
    }

    private Families() {
    }

    /** The model_types with a registered family. */
    public static java.util.Set<String> modelTypes() {
        return java.util.Collections.unmodifiableSet(BUILDERS.keySet());
    }

    /** The model of {@code config}'s family over {@code weights} (canonical keys). */
    public static VisionLanguageModel build(VlmConfig config, Mha2MlaConfig conversion, TensorSource weights) {
        Builder b = BUILDERS.get(config.modelType());
        if (b == null) {
            throw new IllegalArgumentException("model_type '" + config.modelType() + "' has no model family (known: " + BUILDERS.keySet() + ")");
        }
        return b.build(config, conversion, weights);
    }

    /**
     * Opens a Hugging Face folder (config.json + model.safetensors or a sharded index), an original model or one
     * converted by this project (its config's {@code mha2mla} section says how), in either transformers key layout.
     */
    public static VisionLanguageModel load(Path dir) {
        VlmConfig config = HfConfigParser.read(dir);
        Mha2MlaConfig conversion = HfConfigParser.readConversion(dir);
        TensorSource weights = KeyLayout.canonical(Checkpoint.open(dir), config.modelType());
        try {
            return build(config, conversion, weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }
}
