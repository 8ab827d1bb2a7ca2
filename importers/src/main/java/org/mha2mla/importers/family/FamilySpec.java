package org.mha2mla.importers.family;

import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.JsonFields;
import org.mha2mla.importers.image.Resampler;
import org.mha2mla.importers.init.SpecialTokens;
import org.mha2mla.importers.init.WeightPlan;
import org.mha2mla.importers.processor.ProcessedPrompt;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.importers.weights.KeyLayout;

/**
 * What the importers know of one model family, the value {@link FamilySpecs} maps a config.json {@code model_type} to
 * (transformers' {@code CONFIG_MAPPING} + {@code PROCESSOR_MAPPING} + the checkpoint conversion mapping). Each family
 * implements it in its own package ({@code importers.llava}, {@code importers.qwen25vl}); the modules above add their
 * parts on top, keyed by the same {@link #modelType()} (samediff-layers' {@code Families}: the model builder).
 */
public interface FamilySpec {

    /** config.json's {@code model_type} (e.g. {@code llava_next}). */
    String modelType();

    /** The model as papers and the hub name it (e.g. LLaVA-NeXT), for messages and {@code inspect}. */
    String displayName();

    /** The config record of a config.json of this model_type, with transformers' defaults for absent fields. */
    VlmConfig parseConfig(JsonFields root);

    /** The checkpoint key renames between the hub layout and transformers ≥ 4.52's ({@code _checkpoint_conversion_mapping}). */
    KeyLayout.Rules keyLayout();

    /** The folder's processor (transformers' {@code AutoProcessor}), resizing as {@code backend} does. */
    VlmProcessor processor(Path modelDir, VlmConfig config, Resampler.Backend backend);

    /** Canonical prefix of the decoder's tensors ({@code language_model.model.}, {@code model.}). */
    String decoderPrefix();

    /** Canonical key of a vision-tower layer, group 1 its index. */
    Pattern visionLayerKey();

    /** The vision tower's layers (blocks) config.json declares. */
    int visionLayers(VlmConfig config);

    /** One line on the vision tower, as {@code inspect} prints it (e.g. "CLIP ViT: 24 layers, width 1024, …"). */
    String describeVision(VlmConfig config);

    /**
     * The lmms-eval model wrapper the paper evaluated this family with ({@code llava_hf}, {@code qwen2_5_vl}); the
     * evaluation module's {@code ModelFamily} holds what the wrapper does.
     */
    String lmmsEvalModel();

    /**
     * The class of the exported {@code modeling_mha2mla.py} that transformers loads a converted folder of this family
     * with (its {@code auto_map} entry).
     */
    String transformersExportClass();

    // ---- random-weight folders at real shapes (init) ----

    /** Every tensor of the transformers model class, with its shape and init; {@code raw} is the same config.json. */
    List<WeightPlan.Tensor> weightPlan(VlmConfig config, JsonFields raw);

    /** The special-token ids config.json names, each with the token string the tokenizer must hold at that id. */
    List<SpecialTokens.Assignment> specialTokens(VlmConfig config, JsonFields raw,
            JsonNode tokenizerConfig, JsonNode processorConfig);

    /**
     * Sets the image geometry of a hub processor file ({@code imageProcessors}, and the top-level fields of
     * {@code processor}, the processor_config.json root, or null for a preprocessor_config.json) to {@code config}'s; true
     * when a field changed.
     */
    boolean matchGeometry(VlmConfig config, List<ObjectNode> imageProcessors,
                          ObjectNode processor);

    /**
     * Image features the model makes for a processed image, from the config and the pixel tensor's shape (checked to be
     * the tower's input, named by {@code dir}); null when only the processor's formula gives the count.
     */
    Integer visionTokens(VlmConfig config, ProcessedPrompt processed, Path dir);
}
