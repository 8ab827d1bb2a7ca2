package org.mha2mla.importers.init;

import java.io.IOException;
import java.io.UncheckedIOException;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** JSON laid out as Python's {@code json.dumps(obj, indent=2)} lays out the files transformers writes. */
final class HubJson {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private HubJson() {
    }

    static String write(JsonNode node) {
        DefaultPrettyPrinter pp = new DefaultPrettyPrinter()
                .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER));
        pp.indentArraysWith(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE);
        try {
            return MAPPER.writer(pp).writeValueAsString(node) + "\n";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static JsonNode read(String json, String where) {
        try {
            return MAPPER.readTree(json);
        } catch (IOException e) {
            throw new org.mha2mla.importers.config.ConfigException(where + ": not valid JSON: " + e.getMessage(), e);
        }
    }
}
