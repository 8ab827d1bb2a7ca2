package org.mha2mla.importers.family;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.llava.LlavaFamily;
import org.mha2mla.importers.qwen25vl.Qwen25VlFamily;

/**
 * The one place the importers register model families, as transformers' Auto classes map a config's
 * {@code model_type} to its classes. Adding a family: its package with a {@link FamilySpec}, and one line here.
 */
public final class FamilySpecs {

    private static final Map<String, FamilySpec> SPECS = new LinkedHashMap<>();

    static {
        register(LlavaFamily.LLAVA);
        register(LlavaFamily.LLAVA_NEXT);
        register(Qwen25VlFamily.QWEN2_5_VL);
    }

    private FamilySpecs() {
    }

    private static void register(FamilySpec spec) {
        if (SPECS.putIfAbsent(spec.modelType(), spec) != null) {
            throw new IllegalStateException("model_type '" + spec.modelType() + "' is registered twice");
        }
    }

    /** The registered model_types, in registration order. */
    public static Set<String> modelTypes() {
        return Collections.unmodifiableSet(SPECS.keySet());
    }

    /** True when {@code modelType} has a registered family. */
    public static boolean supports(String modelType) {
        return SPECS.containsKey(modelType);
    }

    /** The family of {@code modelType}; an {@link IllegalArgumentException} naming the known ones when there is none. */
    public static FamilySpec of(String modelType) {
        FamilySpec spec = SPECS.get(modelType);
        if (spec == null) {
            throw new IllegalArgumentException("model_type '" + modelType + "' is not supported (known: " + known() + ")");
        }
        return spec;
    }

    /** The family of a parsed config. */
    public static FamilySpec of(VlmConfig config) {
        return of(config.modelType());
    }

    /** The known model_types as one comma-separated list, for messages. */
    public static String known() {
        return String.join(", ", SPECS.keySet());
    }
}
