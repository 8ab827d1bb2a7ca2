package org.mha2mla.layers;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.layers.llava.LlavaModel;
import org.mha2mla.layers.llava.LlavaNextModel;

import java.nio.file.Path;

/** Opens a Hugging Face model folder as the model class its {@code model_type} names. */
public final class VlmLoader {
    private VlmLoader() {
    }

    public static VisionLanguageModel load(Path dir) {
        VlmConfig config = HfConfigParser.read(dir);
        if (config instanceof LlavaConfig llava) {
            return llava.isNext() ? LlavaNextModel.load(dir) : LlavaModel.load(dir);
        }
        throw new UnsupportedOperationException(dir + ": model_type " + config.modelType() + " cannot be loaded yet");
    }
}
