package org.mha2mla.importers.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/**
 * Typed reads of one JSON object with a default for absent (or null) fields, the way transformers'
 * config constructors fill keyword defaults. Every error names the file and the dotted field path.
 */
final class JsonFields {
    private final JsonNode node;
    private final String file;
    private final String path;

    JsonFields(JsonNode node, String file, String path) {
        this.node = node;
        this.file = file;
        this.path = path;
    }

    JsonNode node() {
        return node;
    }

    boolean has(String field) {
        JsonNode v = node.get(field);
        return v != null && !v.isNull();
    }

    JsonFields object(String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isObject()) throw error(field, "must be an object, got " + v.getNodeType());
        return new JsonFields(v, file, qualified(field));
    }

    int integer(String field, Integer fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            if (fallback == null) throw missing(field);
            return fallback;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw error(field, "must be an integer, got " + v);
        return v.intValue();
    }

    Integer optionalInteger(String field) {
        return has(field) ? integer(field, null) : null;
    }

    double number(String field, Double fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            if (fallback == null) throw missing(field);
            return fallback;
        }
        if (!v.isNumber()) throw error(field, "must be a number, got " + v);
        return v.doubleValue();
    }

    String string(String field, String fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            if (fallback == null) throw missing(field);
            return fallback;
        }
        if (!v.isTextual()) throw error(field, "must be a string, got " + v);
        return v.textValue();
    }

    boolean bool(String field, boolean fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) return fallback;
        if (!v.isBoolean()) throw error(field, "must be true or false, got " + v);
        return v.booleanValue();
    }

    /** An int or a list of ints (eos_token_id is either), as a list; empty when absent. */
    List<Integer> integers(String field, List<Integer> fallback) {
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

    int[] intArray(String field) {
        List<Integer> list = integers(field, null);
        if (list == null) throw missing(field);
        return list.stream().mapToInt(Integer::intValue).toArray();
    }

    ConfigException missing(String field) {
        return new ConfigException(file + ": required field '" + qualified(field) + "' is missing");
    }

    ConfigException error(String field, String what) {
        return new ConfigException(file + ": field '" + qualified(field) + "' " + what);
    }

    private String qualified(String field) {
        return path.isEmpty() ? field : path + "." + field;
    }
}
