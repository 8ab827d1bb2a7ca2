package org.mha2mla.importers.llava;

import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.core.config.ClipVisionConfig;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.JsonFields;
import org.mha2mla.importers.family.FamilySpec;
import org.mha2mla.importers.image.Resampler;
import org.mha2mla.importers.init.ModelInitializer;
import org.mha2mla.importers.init.SpecialTokens;
import org.mha2mla.importers.init.WeightPlan;
import org.mha2mla.importers.processor.LlavaNextProcessor;
import org.mha2mla.importers.processor.LlavaProcessor;
import org.mha2mla.importers.processor.ProcessedPrompt;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.importers.weights.KeyLayout;

/**
 * LLaVA-1.5 ({@code llava}) and LLaVA-NeXT ({@code llava_next}): transformers' LlavaConfig / LlavaNextConfig, a CLIP
 * tower, a two-layer projector and a Llama decoder; NeXT adds anyres tiling and {@code image_newline}.
 */
public final class LlavaFamily implements FamilySpec {

    public static final LlavaFamily LLAVA = new LlavaFamily(false);
    public static final LlavaFamily LLAVA_NEXT = new LlavaFamily(true);

    /** LlavaForConditionalGeneration's {@code _checkpoint_conversion_mapping}; the CLIP tower canonically under vision_model. */
    private static final KeyLayout.Rules KEYS = new KeyLayout.Rules(List.of(
            new KeyLayout.Rule("language_model.model.", "model.language_model."),
            new KeyLayout.Rule("language_model.lm_head.", "lm_head."),
            new KeyLayout.Rule("vision_tower.", "model.vision_tower."),
            new KeyLayout.Rule("multi_modal_projector.", "model.multi_modal_projector."),
            new KeyLayout.Rule("image_newline", "model.image_newline")),
            List.of(), "vision_tower.", "vision_model.");

    private static final Pattern CLIP_LAYER = Pattern.compile("^vision_tower\\.vision_model\\.encoder\\.layers\\.(\\d+)\\.");

    private final boolean next;

    private LlavaFamily(boolean next) {
        this.next = next;
    }

    @Override
    public String modelType() {
        return next ? "llava_next" : "llava";
    }

    @Override
    public String displayName() {
        return next ? "LLaVA-NeXT" : "LLaVA-1.5";
    }

    @Override
    public VlmConfig parseConfig(JsonFields root) {
        return LlavaConfigParser.parse(root, modelType());
    }

    @Override
    public KeyLayout.Rules keyLayout() {
        return KEYS;
    }

    @Override
    public VlmProcessor processor(Path modelDir, VlmConfig config, Resampler.Backend backend) {
        LlavaConfig c = (LlavaConfig) config;
        return next ? LlavaNextProcessor.load(modelDir, c, backend) : LlavaProcessor.load(modelDir, c, backend);
    }

    @Override
    public String decoderPrefix() {
        return "language_model.model.";
    }

    @Override
    public Pattern visionLayerKey() {
        return CLIP_LAYER;
    }

    @Override
    public int visionLayers(VlmConfig config) {
        return ((LlavaConfig) config).visionConfig().numHiddenLayers();
    }

    @Override
    public String describeVision(VlmConfig config) {
        LlavaConfig l = (LlavaConfig) config;
        ClipVisionConfig v = l.visionConfig();
        String line = String.format("CLIP ViT: %d layers, width %d, %d heads, %d px / patch %d, %s, feature layer %d (%s)",
                v.numHiddenLayers(), v.hiddenSize(), v.numAttentionHeads(), v.imageSize(), v.patchSize(), v.hiddenAct(),
                l.visionFeatureLayer(), l.visionFeatureSelectStrategy());
        return next ? line + String.format("%nanyres pinpoints  %d resolutions", l.imageGridPinpoints().size()) : line;
    }

    @Override
    public String lmmsEvalModel() {
        return "llava_hf";
    }

    @Override
    public String transformersExportClass() {
        return next ? "Mha2MlaLlavaNextForConditionalGeneration" : "Mha2MlaLlavaForConditionalGeneration";
    }

    @Override
    public List<WeightPlan.Tensor> weightPlan(VlmConfig config, JsonFields raw) {
        return WeightPlan.llava((LlavaConfig) config, raw);
    }

    @Override
    public List<SpecialTokens.Assignment> specialTokens(VlmConfig config, JsonFields raw, JsonNode tokenizerConfig, JsonNode processorConfig) {
        return SpecialTokens.llava((LlavaConfig) config, raw, tokenizerConfig, processorConfig);
    }

    @Override
    public boolean matchGeometry(VlmConfig config, List<ObjectNode> imageProcessors, ObjectNode processor) {
        return ModelInitializer.llavaGeometry((LlavaConfig) config, imageProcessors, processor);
    }

    @Override
    public Integer visionTokens(VlmConfig config, ProcessedPrompt processed, Path dir) {
        return ModelInitializer.llavaVisionTokens((LlavaConfig) config, processed, dir);
    }
}
