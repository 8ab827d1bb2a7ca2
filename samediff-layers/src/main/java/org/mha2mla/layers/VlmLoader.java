package org.mha2mla.layers;

import java.nio.file.Path;

/** Opens a Hugging Face model folder as the model class its {@code model_type} names ({@link Families}). */
public final class VlmLoader {
    private VlmLoader() {
    }

    /** The folder's model over its mapped weights (nothing is read until a pass needs it); close it after use. */
    public static VisionLanguageModel load(Path dir) {
        return Families.load(dir);
    }
}
