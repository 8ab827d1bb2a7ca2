package org.mha2mla.importers.qwen25vl;

import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.Qwen25VlVisionConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.JsonFields;
import org.mha2mla.importers.family.FamilySpec;
import org.mha2mla.importers.image.Resampler;
import org.mha2mla.importers.init.ModelInitializer;
import org.mha2mla.importers.init.SpecialTokens;
import org.mha2mla.importers.init.WeightPlan;
import org.mha2mla.importers.processor.ProcessedPrompt;
import org.mha2mla.importers.processor.Qwen25VlProcessor;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.importers.weights.KeyLayout;

/** Qwen2.5-VL ({@code qwen2_5_vl}): transformers' Qwen2_5_VLConfig, its window-attention ViT and a Qwen2 decoder with M-RoPE. */
public final class Qwen25VlFamily implements FamilySpec {

    public static final Qwen25VlFamily QWEN2_5_VL = new Qwen25VlFamily();

    /**
     * Qwen2_5_VLForConditionalGeneration's {@code _checkpoint_conversion_mapping}: {@code ^visual → model.visual},
     * {@code ^model(?!\.(language_model|visual)) → model.language_model}; the lookahead leaves new-layout keys alone.
     */
    private static final KeyLayout.Rules KEYS = new KeyLayout.Rules(List.of(
            new KeyLayout.Rule("visual.", "model.visual."),
            new KeyLayout.Rule("model.", "model.language_model."),
            new KeyLayout.Rule("lm_head.", "lm_head.")),
            List.of("model.language_model.", "model.visual."), null, null);

    private static final Pattern BLOCK = Pattern.compile("^visual\\.blocks\\.(\\d+)\\.");

    private Qwen25VlFamily() {
    }

    @Override
    public String modelType() {
        return "qwen2_5_vl";
    }

    @Override
    public String displayName() {
        return "Qwen2.5-VL";
    }

    @Override
    public VlmConfig parseConfig(JsonFields root) {
        return Qwen25VlConfigParser.parse(root);
    }

    @Override
    public KeyLayout.Rules keyLayout() {
        return KEYS;
    }

    @Override
    public VlmProcessor processor(Path modelDir, VlmConfig config, Resampler.Backend backend) {
        return Qwen25VlProcessor.load(modelDir, (Qwen25VlConfig) config, backend);
    }

    @Override
    public String decoderPrefix() {
        return "model.";
    }

    @Override
    public Pattern visionLayerKey() {
        return BLOCK;
    }

    @Override
    public int visionLayers(VlmConfig config) {
        return ((Qwen25VlConfig) config).visionConfig().depth();
    }

    @Override
    public String describeVision(VlmConfig config) {
        Qwen25VlVisionConfig v = ((Qwen25VlConfig) config).visionConfig();
        return String.format("Qwen2.5-VL ViT: %d blocks, width %d, %d heads, window %d, full attention in %s",
                v.depth(), v.hiddenSize(), v.numHeads(), v.windowSize(), v.fullattBlockIndexes());
    }

    @Override
    public String lmmsEvalModel() {
        return "qwen2_5_vl";
    }

    @Override
    public String transformersExportClass() {
        return "Mha2MlaQwen2_5_VLForConditionalGeneration";
    }

    @Override
    public List<WeightPlan.Tensor> weightPlan(VlmConfig config, JsonFields raw) {
        return WeightPlan.qwen25Vl((Qwen25VlConfig) config, raw);
    }

    @Override
    public List<SpecialTokens.Assignment> specialTokens(VlmConfig config, JsonFields raw, JsonNode tokenizerConfig, JsonNode processorConfig) {
        return SpecialTokens.qwen25Vl((Qwen25VlConfig) config, raw, tokenizerConfig, processorConfig);
    }

    @Override
    public boolean matchGeometry(VlmConfig config, List<ObjectNode> imageProcessors, ObjectNode processor) {
        return ModelInitializer.qwen25VlGeometry((Qwen25VlConfig) config, imageProcessors);
    }

    @Override
    public Integer visionTokens(VlmConfig config, ProcessedPrompt processed, Path dir) {
        return ModelInitializer.qwen25VlVisionTokens((Qwen25VlConfig) config, processed, dir);
    }
}
