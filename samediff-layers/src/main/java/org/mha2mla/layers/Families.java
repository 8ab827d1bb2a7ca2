package org.mha2mla.layers;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.llava.LlavaModel;
import org.mha2mla.layers.llava.LlavaNextModel;
import org.mha2mla.layers.qwen25vl.Qwen25VlModel;

/**
 * The one place model families are registered, as transformers' Auto classes map a config's {@code model_type} to
 * a model class: each entry builds the family's model over weights under canonical keys.
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
