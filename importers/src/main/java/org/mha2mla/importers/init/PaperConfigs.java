package org.mha2mla.importers.init;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.config.JsonFields;
import org.mha2mla.importers.safetensors.DType;

/**
 * The checkpoints MHA2MLA-VLM converts, bundled as their hub repositories have them (config.json,
 * preprocessor_config.json and, for LLaVA, processor_config.json), so {@code mha2mla init} can build them at full size
 * without a download:
 * <pre>
 *   llava-1.5-7b             llava-hf/llava-1.5-7b-hf             7.06 B parameters
 *   llama3-llava-next-8b     llava-hf/llama3-llava-next-8b-hf     8.36 B
 *   qwen2.5-vl-7b-instruct   Qwen/Qwen2.5-VL-7B-Instruct           8.29 B
 * </pre>
 */
public final class PaperConfigs {

    public static final List<String> NAMES = List.of("llava-1.5-7b", "llama3-llava-next-8b", "qwen2.5-vl-7b-instruct");
    private static final String ROOT = "/org/mha2mla/importers/paper/";
    private static final String SMALL = "/org/mha2mla/importers/small/";

    private PaperConfigs() {
    }

    /**
     * A model config to build: its config.json text, parsed, and the folder its processor files come from (the paper
     * config's bundled folder, or the folder a config.json file sits in).
     */
    public record Spec(String name, String configJson, VlmConfig config, JsonFields raw, SourceFolder folder) {

        public String modelType() {
            return config.modelType();
        }

        /** The dtype config.json says the weights are stored in (torch_dtype, or transformers 5's dtype); F32 if neither. */
        public DType storedDtype() {
            JsonNode d = raw.node().has("torch_dtype") ? raw.node().get("torch_dtype") : raw.node().get("dtype");
            String name = d == null || !d.isTextual() ? "float32" : d.asText();
            return switch (name) {
                case "bfloat16" -> DType.BF16;
                case "float16" -> DType.F16;
                case "float32" -> DType.F32;
                default -> throw raw.error(raw.node().has("torch_dtype") ? "torch_dtype" : "dtype",
                        "is '" + name + "'; expected bfloat16, float16 or float32 (or choose one with --dtype)");
            };
        }

        /** config.json with every {@code torch_dtype} / {@code dtype} value (top level and sub-configs) set to {@code dtype}. */
        public String configJsonWithDtype(DType dtype) {
            String torchName = switch (dtype) {
                case BF16 -> "bfloat16";
                case F16 -> "float16";
                case F32 -> "float32";
                default -> throw new IllegalArgumentException("weights are stored as bf16, f16 or f32, not " + dtype);
            };
            // A textual edit keeps the file as the hub wrote it (field order, number spelling such as 1e-05).
            Matcher m = DTYPE_FIELD.matcher(configJson);
            if (m.find()) return m.replaceAll("$1\"" + torchName + "\"");
            return configJson.replaceFirst("^\\s*\\{", "{\n  \"torch_dtype\": \"" + torchName + "\",");
        }
    }

    private static final Pattern DTYPE_FIELD = Pattern.compile("(\"(?:torch_)?dtype\"\\s*:\\s*)\"[A-Za-z0-9_]+\"");

    /**
     * A bundled name ({@link #NAMES}), or a path to a config.json (or to the folder holding one). Unknown names, missing
     * files and configs of an unsupported model_type fail with one line naming the argument.
     */
    public static Spec resolve(String nameOrPath) {
        String key = nameOrPath.trim().toLowerCase(Locale.ROOT);
        if (NAMES.contains(key)) {
            SourceFolder folder = SourceFolder.bundled(ROOT + key + "/", "bundled config " + key);
            String json = folder.read("config.json").orElseThrow(() -> new IllegalStateException(
                    "resource " + ROOT + key + "/config.json is missing from the importers jar"));
            return parse(key, json, folder);
        }
        Path p = Path.of(nameOrPath);
        Path file = Files.isDirectory(p) ? p.resolve("config.json") : p;
        if (!Files.isRegularFile(file)) {
            throw new ConfigException("--config '" + nameOrPath + "': neither a bundled config (" + String.join(", ", NAMES)
                    + ") nor a config.json file");
        }
        SourceFolder folder = SourceFolder.onDisk(file.toAbsolutePath().getParent());
        String json = folder.read(file.getFileName().toString()).orElseThrow();
        return parse(file.toString(), json, folder);
    }

    private static Spec parse(String name, String json, SourceFolder folder) {
        VlmConfig config = HfConfigParser.parse(json, name);
        JsonNode root = HubJson.read(json, name);
        return new Spec(name, json, config, new JsonFields(root, name, ""), folder);
    }

    /** The small tokenizer / chat-template folder bundled for a model type (the test fixtures' files). */
    static SourceFolder smallFolder(String modelType) {
        return SourceFolder.bundled(SMALL + modelType + "/", "bundled small " + modelType + " folder");
    }
}
