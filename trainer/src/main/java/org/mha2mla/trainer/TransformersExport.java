package org.mha2mla.trainer;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.importers.family.FamilySpecs;
import org.mha2mla.importers.config.HfConfigParser;

/**
 * Makes a converted model folder loadable by Hugging Face transformers (5.x): writes {@value #MODULE_FILE} (partial
 * RoPE and MLA attention with the modality-decoupled factors and the latent cache, for LLaVA-1.5, LLaVA-NeXT and
 * Qwen2.5-VL; the Python lives in this package's resources) and points {@code config.json}'s {@code auto_map} at the
 * family's class in it, so that
 * <pre>
 *   AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True)
 * </pre>
 * builds the stock model with the converted attention in every decoder layer and loads the folder's weights (hub key
 * names, as this project writes them). The folder's config.json must already carry its {@code "mha2mla"} section;
 * every other field, and the weights, stay as they are. Parity with this project's logits and greedy ids is checked
 * by {@code tools/hf_check_export.py}.
 */
public final class TransformersExport {

    /** The module written into every exported folder. */
    public static final String MODULE_FILE = "modeling_mha2mla.py";
    /** The auto class whose entry {@code auto_map} gets. */
    public static final String AUTO_CLASS = "AutoModelForImageTextToText";
    /** The class of each model_type in {@value #MODULE_FILE}. */
    private static final String RESOURCE = "transformers/" + MODULE_FILE;
    private static final ObjectMapper JSON = new ObjectMapper();

    private TransformersExport() {
    }

    /**
     * Writes {@value #MODULE_FILE} into {@code folder} (replacing an earlier copy) and sets {@code auto_map} in its
     * config.json. Refuses a folder whose config.json has no {@code "mha2mla"} section (an unconverted model needs no
     * remote code) or a model_type other than llava, llava_next, qwen2_5_vl.
     */
    public static void write(Path folder) {
        Path config = folder.resolve("config.json");
        Mha2MlaConfig conversion = HfConfigParser.readConversion(folder);   // validated against the decoder it describes
        if (conversion == null) {
            throw new IllegalArgumentException(config + ": no \"mha2mla\" section: only converted folders are exported with remote code");
        }
        try {
            JsonNode root = JSON.readTree(config.toFile());
            String type = root.path("model_type").asText();
            if (!FamilySpecs.supports(type)) {
                throw new IllegalArgumentException(config + ": model_type '" + type + "' has no transformers export (supported: "
                        + FamilySpecs.known() + ")");
            }
            String cls = FamilySpecs.of(type).transformersExportClass();
            ObjectNode autoMap = ((ObjectNode) root).putObject("auto_map");
            autoMap.put(AUTO_CLASS, MODULE_FILE.replace(".py", "") + "." + cls);
            Files.writeString(config, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n");
            try (InputStream in = TransformersExport.class.getResourceAsStream(RESOURCE)) {
                if (in == null) throw new IllegalStateException("resource " + RESOURCE + " is missing from the trainer jar");
                Files.write(folder.resolve(MODULE_FILE), in.readAllBytes());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(folder + ": cannot write the transformers export (" + e + ")", e);
        }
    }

    /** True when {@code folder}'s config.json carries a {@code "mha2mla"} section (a folder {@link #write} accepts). */
    public static boolean isConverted(Path folder) {
        try {
            return JSON.readTree(folder.resolve("config.json").toFile()).has(HfConfigParser.MHA2MLA);
        } catch (IOException e) {
            throw new UncheckedIOException(folder.resolve("config.json") + ": cannot read (" + e + ")", e);
        }
    }
}
