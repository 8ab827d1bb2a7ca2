package org.mha2mla.layers;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.layers.llava.LlavaModel;
import org.mha2mla.layers.llava.LlavaNextModel;
import org.mha2mla.layers.qwen25vl.Qwen25VlModel;

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
        if (config instanceof Qwen25VlConfig) {
            return Qwen25VlModel.load(dir);
        }
        throw new IllegalStateException("unreachable: VlmConfig is sealed, got " + config.modelType());
    }
}
