package org.mha2mla.importers.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

import java.util.ArrayList;
import java.util.List;

/**
 * Typed reads of one JSON object with a default for absent (or null) fields, the way transformers'
 * config constructors fill keyword defaults. Every error names the file and the dotted field path.
 * Public so the tokenizer and image-processor readers of the same folder report errors the same way.
 */
public final class JsonFields {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final JsonNode node;
    private final String file;
    private final String path;

    /** Reads a JSON file whose top level is an object; a missing file or invalid JSON is a {@link ConfigException}. */
    public static JsonFields read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": not found");
        } catch (IOException e) {
            throw new ConfigException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ConfigException(file + ": top level must be a JSON object");
        return new JsonFields(root, file.toString(), "");
    }

    public JsonFields(JsonNode node, String file, String path) {
        this.node = node;
        this.file = file;
        this.path = path;
    }

    public JsonNode node() {
        return node;
    }

    public boolean has(String field) {
        JsonNode v = node.get(field);
        return v != null && !v.isNull();
    }

    public JsonFields object(String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isObject()) throw error(field, "must be an object, got " + v.getNodeType());
        return new JsonFields(v, file, qualified(field));
    }

    public int integer(String field, Integer fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            if (fallback == null) throw missing(field);
            return fallback;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw error(field, "must be an integer, got " + v);
        return v.intValue();
    }

    /** An integer of at least 1 (sizes and counts: layers, heads, widths); 0 and negatives name the field. */
    public int positive(String field, Integer fallback) {
        int v = integer(field, fallback);
        if (v < 1) throw error(field, "must be a positive integer, got " + v);
        return v;
    }

    /** A finite number greater than 0 (epsilons, RoPE bases). */
    public double positiveNumber(String field, Double fallback) {
        double v = number(field, fallback);
        if (!Double.isFinite(v) || v <= 0) throw error(field, "must be a finite number greater than 0, got " + v);
        return v;
    }

    public Integer optionalInteger(String field) {
        return has(field) ? integer(field, null) : null;
    }

    public double number(String field, Double fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            if (fallback == null) throw missing(field);
            return fallback;
        }
        if (!v.isNumber()) throw error(field, "must be a number, got " + v);
        return v.doubleValue();
    }

    public String string(String field, String fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            if (fallback == null) throw missing(field);
            return fallback;
        }
        if (!v.isTextual()) throw error(field, "must be a string, got " + v);
        return v.textValue();
    }

    public boolean bool(String field, boolean fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) return fallback;
        if (!v.isBoolean()) throw error(field, "must be true or false, got " + v);
        return v.booleanValue();
    }

    /** An int or a list of ints (eos_token_id is either), as a list; empty when absent. */
    public List<Integer> integers(String field, List<Integer> fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) return fallback;
        List<Integer> out = new ArrayList<>();
        if (v.isIntegralNumber()) {
            out.add(v.intValue());
        } else if (v.isArray()) {
            for (JsonNode e : v) {
                if (!e.isIntegralNumber()) throw error(field, "must hold integers, got " + e);
                out.add(e.intValue());
            }
        } else {
            throw error(field, "must be an integer or a list of integers, got " + v);
        }
        return out;
    }

    public int[] intArray(String field) {
        List<Integer> list = integers(field, null);
        if (list == null) throw missing(field);
        return list.stream().mapToInt(Integer::intValue).toArray();
    }

    /** A list of numbers (image_mean, image_std); {@code fallback} when absent. */
    public double[] doubles(String field, double[] fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            if (fallback == null) throw missing(field);
            return fallback;
        }
        if (v.isNumber()) return new double[]{v.doubleValue()};
        if (!v.isArray()) throw error(field, "must be a number or a list of numbers, got " + v.getNodeType());
        double[] out = new double[v.size()];
        for (int i = 0; i < out.length; i++) {
            if (!v.get(i).isNumber()) throw error(field, "must hold numbers, got " + v.get(i));
            out[i] = v.get(i).doubleValue();
        }
        return out;
    }

    /** A list of integer pairs ([[h, w], ...], e.g. image_grid_pinpoints); {@code fallback} when absent. */
    public List<int[]> intPairs(String field, List<int[]> fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            if (fallback == null) throw missing(field);
            return fallback;
        }
        if (!v.isArray()) throw error(field, "must be a list of [height, width] pairs, got " + v.getNodeType());
        List<int[]> out = new ArrayList<>();
        for (JsonNode p : v) {
            if (!p.isArray() || p.size() != 2 || !p.get(0).canConvertToInt() || !p.get(1).canConvertToInt()
                    || !p.get(0).isIntegralNumber() || !p.get(1).isIntegralNumber()) {
                throw error(field, "must hold [height, width] integer pairs, got " + p);
            }
            out.add(new int[]{p.get(0).intValue(), p.get(1).intValue()});
        }
        return out;
    }

    /** The file this object was read from (for messages). */
    public String file() {
        return file;
    }

    public ConfigException missing(String field) {
        return new ConfigException(file + ": required field '" + qualified(field) + "' is missing");
    }

    public ConfigException error(String field, String what) {
        return new ConfigException(file + ": field '" + qualified(field) + "' " + what);
    }

    private String qualified(String field) {
        return path.isEmpty() ? field : path + "." + field;
    }
}
