package org.mha2mla.importers;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.weights.Checkpoint;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@code mha2mla inspect} shows: the parsed config and parameter counts per component, read from
 * the safetensors headers only (no tensor is loaded, so a 7B checkpoint is inspected in milliseconds).
 */
public final class ModelInspector {

    /**
     * Parameter counts per component (vision tower, projector/merger, language model) and per storage dtype;
     * {@code conversion} is config.json's mha2mla section, null for an original model; {@code audit} compares the
     * tensors with config.json (unused, missing and mis-shaped tensors) and {@code weights} names the file audited.
     */
    public record Summary(VlmConfig config, Mha2MlaConfig conversion, Map<String, Long> parametersByComponent,
                          Map<DType, Long> parametersByDtype, WeightsAudit audit, String weights) {
        public long totalParameters() {
            return parametersByComponent.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    private ModelInspector() {
    }

    public static Summary inspect(Path modelDir) {
        VlmConfig config = HfConfigParser.read(modelDir);
        Map<String, Long> byComponent = new LinkedHashMap<>();
        for (String c : new String[] {"vision tower", "projector", "language model"}) byComponent.put(c, 0L);
        Map<DType, Long> byDtype = new TreeMap<>();
        Mha2MlaConfig conversion = HfConfigParser.readConversion(modelDir);
        try (Checkpoint ckpt = Checkpoint.open(modelDir)) {
            for (String name : ckpt.names()) {
                long n = ckpt.info(name).numel();
                byComponent.merge(component(name), n, Long::sum);
                byDtype.merge(ckpt.info(name).dtype(), n, Long::sum);
            }
            return new Summary(config, conversion, byComponent, byDtype, WeightsAudit.of(ckpt, config, conversion), ckpt.description());
        }
    }

    /** Component of a checkpoint key in either the hub or the transformers-5 layout. */
    static String component(String key) {
        String k = key.startsWith("model.") && (key.startsWith("model.visual.") || key.startsWith("model.vision_tower.")
                || key.startsWith("model.multi_modal_projector.") || key.equals("model.image_newline"))
                ? key.substring("model.".length()) : key;
        if (k.startsWith("visual.merger.") || k.startsWith("multi_modal_projector.") || k.equals("image_newline")) {
            return "projector";
        }
        if (k.startsWith("visual.") || k.startsWith("vision_tower.")) return "vision tower";
        return "language model";
    }
}
