package org.mha2mla.importers.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.mha2mla.importers.FileKind;
import org.mha2mla.importers.family.FamilySpecs;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.SvdMethod;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Reads a Hugging Face {@code config.json} into the core config records, filling every absent field
 * with the default the matching transformers config class would use. Hub files rely on those defaults:
 * llava-1.5-7b-hf, for one, leaves out hidden_size, num_hidden_layers, rope_theta and CLIP's hidden_act.
 * The family of the file's {@code model_type} ({@link FamilySpecs}) parses it; the fields every family's text config
 * reads the same way are here.
 */
public final class HfConfigParser {
    private static final ObjectMapper JSON = new ObjectMapper();

    private HfConfigParser() {
    }

    /** Parses {@code dir/config.json}. */
    public static VlmConfig read(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) FileKind.requireRegular(file, ConfigException::new);
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": not found (a Hugging Face model folder needs config.json)");
        } catch (IOException e) {
            throw new ConfigException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ConfigException(file + ": top level must be a JSON object");
        return parse(new JsonFields(root, file.toString(), ""));
    }

    /** Parses config JSON text; {@code name} is used in error messages. */
    public static VlmConfig parse(String json, String name) {
        try {
            JsonNode root = JSON.readTree(json);
            if (root == null || !root.isObject()) throw new ConfigException(name + ": top level must be a JSON object");
            return parse(new JsonFields(root, name, ""));
        } catch (IOException e) {
            throw new ConfigException(name + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    // ---- the "mha2mla" section of converted models ----

    /** Name of the section a converted model's config.json carries. */
    public static final String MHA2MLA = "mha2mla";

    /**
     * The {@code "mha2mla"} section of {@code dir/config.json}, or null for an unconverted model; checked against the
     * decoder the same file describes (layers, KV heads, head_dim).
     */
    public static Mha2MlaConfig readConversion(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        try {
            String json = Files.readString(file);
            Mha2MlaConfig c = parseConversion(json, file.toString());
            if (c != null) {
                try {
                    c.requireMatches(parse(json, file.toString()).textConfig());
                } catch (IllegalArgumentException e) {
                    throw new ConfigException(file + ": " + e.getMessage(), e);
                }
            }
            return c;
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": not found (a Hugging Face model folder needs config.json)");
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * The {@code "mha2mla"} section of config JSON text, or null when absent:
     * <pre>
     *   "mha2mla": {"step": "all", "strategy": "mkl", "d_r": 32, "d_kv": 64, "svd": "md", "decoupled": true,
     *               "kept_pairs": [[[0, 5, …], …], …]}      (per layer, per KV head, the kept pair indices)
     * </pre>
     */
    public static Mha2MlaConfig parseConversion(String json, String name) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            throw new ConfigException(name + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ConfigException(name + ": top level must be a JSON object");
        JsonFields top = new JsonFields(root, name, "");
        if (!top.has(MHA2MLA)) return null;
        JsonFields m = top.object(MHA2MLA);
        try {
            Mha2MlaConfig.Step step = Mha2MlaConfig.Step.parse(m.string("step", null));
            RopeStrategy strategy = RopeStrategy.parse(m.string("strategy", null));
            int ropeDim = m.integer("d_r", null);
            SvdMethod svd = step.producesMla() ? SvdMethod.fromConfig(m.string("svd", null)) : null;
            int dKv = step.producesMla() ? m.integer("d_kv", null) : 0;
            if (svd != null && m.has("decoupled") && m.bool("decoupled", false) != svd.decoupled()) {
                throw m.error("decoupled", "is " + m.bool("decoupled", false) + " but svd '" + svd.id() + "' is "
                        + (svd.decoupled() ? "" : "not ") + "modality-decoupled");
            }
            return new Mha2MlaConfig(step, strategy, ropeDim, dKv, svd, keptPairs(m));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(name + ": section '" + MHA2MLA + "': " + e.getMessage(), e);
        }
    }

    private static int[][][] keptPairs(JsonFields m) {
        JsonNode p = m.node().get("kept_pairs");
        if (p == null || p.isNull()) throw m.missing("kept_pairs");
        if (!p.isArray()) throw m.error("kept_pairs", "must be a list (per layer) of lists (per KV head) of pair indices");
        int[][][] out = new int[p.size()][][];
        for (int l = 0; l < out.length; l++) {
            JsonNode layer = p.get(l);
            if (!layer.isArray()) throw m.error("kept_pairs[" + l + "]", "must be a list (per KV head) of pair lists, got " + layer);
            out[l] = new int[layer.size()][];
            for (int h = 0; h < out[l].length; h++) {
                JsonNode head = layer.get(h);
                if (!head.isArray()) throw m.error("kept_pairs[" + l + "][" + h + "]", "must be a list of pair indices, got " + head);
                out[l][h] = new int[head.size()];
                for (int i = 0; i < head.size(); i++) {
                    if (!head.get(i).isIntegralNumber()) {
                        throw m.error("kept_pairs[" + l + "][" + h + "]", "must hold integers, got " + head.get(i));
                    }
                    out[l][h][i] = head.get(i).intValue();
                }
            }
        }
        return out;
    }

    /** {@code configJson} with the {@code "mha2mla"} section set to {@code c} (replacing any), pretty-printed. */
    public static String withConversion(String configJson, Mha2MlaConfig c, String name) {
        JsonNode root;
        try {
            root = JSON.readTree(configJson);
        } catch (IOException e) {
            throw new ConfigException(name + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ConfigException(name + ": top level must be a JSON object");
        ObjectNode section = JSON.createObjectNode();
        section.put("step", c.step().id());
        section.put("strategy", c.strategy().id());
        section.put("d_r", c.ropeDim());
        if (c.isMla()) {
            section.put("d_kv", c.dKv());
            section.put("svd", c.svd().id());
        }
        section.put("decoupled", c.decoupled());
        ArrayNode layers = section.putArray("kept_pairs");
        for (int[][] layer : c.keptPairs()) {
            ArrayNode heads = layers.addArray();
            for (int[] head : layer) {
                ArrayNode pairs = heads.addArray();
                for (int k : head) pairs.add(k);
            }
        }
        ((ObjectNode) root).set(MHA2MLA, section);
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n";
        } catch (IOException e) {
            throw new ConfigException(name + ": cannot write JSON: " + e.getMessage(), e);
        }
    }

    private static VlmConfig parse(JsonFields root) {
        String type = root.string("model_type", null);
        if (!FamilySpecs.supports(type)) throw root.error("model_type", "is '" + type + "'; supported: " + FamilySpecs.known());
        try {
            return FamilySpecs.of(type).parseConfig(root);
        } catch (ConfigException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            // A consistency rule of the config records (e.g. num_attention_heads a multiple of num_key_value_heads).
            throw new ConfigException(root.file() + ": " + e.getMessage(), e);
        }
    }

    // ---- fields every family's text config reads as transformers does ----

    /**
     * rope_theta is a top-level field in older files and lives in rope_parameters in transformers 5.
     * Only the default (unscaled) rotary embedding is supported: linear/dynamic/yarn/llama3 scaling
     * would change the frequencies and is refused rather than silently ignored.
     */
    public static double ropeTheta(JsonFields t, double fallback) {
        for (String key : new String[] {"rope_scaling", "rope_parameters"}) {
            JsonFields rope = t.object(key);
            if (rope == null) continue;
            String ropeType = rope.has("rope_type") ? rope.string("rope_type", null) : rope.string("type", "default");
            if (!ropeType.equals("default") && !ropeType.equals("mrope")) {
                throw rope.error("rope_type", "is '" + ropeType + "'; only default rotary embeddings (and M-RoPE) are supported");
            }
            if (rope.has("rope_theta")) return rope.positiveNumber("rope_theta", null);
        }
        return t.positiveNumber("rope_theta", fallback);
    }

    /** num_key_value_heads: positive and dividing num_attention_heads (each KV head serves a whole group of query heads). */
    public static int kvHeads(JsonFields t, int heads, int fallback) {
        int kv = t.positive("num_key_value_heads", fallback);
        if (heads % kv != 0) throw t.error("num_key_value_heads", "is " + kv + ", which does not divide num_attention_heads " + heads);
        return kv;
    }

    /** head_dim, or hidden_size / num_attention_heads as transformers derives it (then heads must divide hidden). */
    public static int headDim(JsonFields t, int hidden, int heads) {
        if (t.has("head_dim")) return t.positive("head_dim", null);
        if (hidden % heads != 0) {
            throw t.error("hidden_size", hidden + " is not a multiple of num_attention_heads " + heads + " (and no head_dim is given)");
        }
        return hidden / heads;
    }

    /**
     * An image (or video) placeholder id: non-negative; it may lie past the vocabulary, as transformers' LLaVA replaces
     * those positions before the embedding lookup.
     */
    public static int imageTokenId(JsonFields f, String field, int fallback) {
        int id = f.integer(field, fallback);
        if (id < 0) throw f.error(field, "must be a non-negative token id, got " + id);
        return id;
    }

    /** A special token id that is embedded like text: an index into the decoder's embedding table. */
    public static int tokenId(JsonFields f, String field, int fallback, int vocabSize) {
        int id = f.integer(field, fallback);
        if (id < 0 || id >= vocabSize) throw f.error(field, "is " + id + ", outside the vocabulary (0 .. " + (vocabSize - 1) + ")");
        return id;
    }
}
