package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * One benchmark row as lmms-eval's {@code doc}: the dataset fields under their hub names, plus the
 * encoded images (PNG/JPEG bytes as stored in the parquet {@code image{bytes,path}} structs) kept apart.
 * Image fields in {@code fields} are replaced by {@code {"path": ..., "image_index": k}} pointing into
 * {@code images}; decoding is the image processor's job.
 */
public record Doc(ObjectNode fields, List<byte[]> images) {
    public Doc {
        images = List.copyOf(images);
    }

    /** A doc without images, e.g. from a {@code --cases} JSON file. */
    public static Doc of(JsonNode fields) {
        if (!(fields instanceof ObjectNode object)) {
            throw new IllegalArgumentException("doc must be a JSON object, got " + fields);
        }
        return new Doc(object, List.of());
    }

    /** The field's value; a missing field is an error (Python's KeyError), a null value is returned. */
    public JsonNode get(String field) {
        JsonNode v = fields.get(field);
        if (v == null) {
            throw new IllegalArgumentException("doc has no field '" + field + "' (fields: " + names() + ")");
        }
        return v;
    }

    /** True where the field exists (Python's {@code field in doc}). */
    public boolean has(String field) {
        return fields.has(field);
    }

    /** {@code str(doc[field])} as an f-string renders it. */
    public String text(String field) {
        return PyText.str(get(field));
    }

    /** A list field as strings, e.g. ai2d {@code options} or docvqa {@code answers}. */
    public List<String> texts(String field) {
        JsonNode v = get(field);
        if (!v.isArray()) {
            throw new IllegalArgumentException("doc field '" + field + "' must be a list, got " + v);
        }
        List<String> out = new ArrayList<>(v.size());
        v.forEach(e -> out.add(PyText.str(e)));
        return out;
    }

    /** A copy of the fields, for result logs. */
    public ObjectNode fieldsCopy() {
        return fields.deepCopy();
    }

    static ObjectNode object() {
        return JsonNodeFactory.instance.objectNode();
    }

    private List<String> names() {
        List<String> names = new ArrayList<>();
        for (Iterator<String> it = fields.fieldNames(); it.hasNext(); ) {
            names.add(it.next());
        }
        return names;
    }
}
