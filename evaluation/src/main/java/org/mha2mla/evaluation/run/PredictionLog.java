package org.mha2mla.evaluation.run;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The resumable prediction log of one task: JSON lines, the first {@code {"config": {...}}} (model, cache policy,
 * generation settings), then one {@code {"doc_id": i, "prediction": ..., ...}} per generated doc, flushed as it is
 * written. Reopening with the same config resumes: the docs already there are not generated again. A different
 * config is refused (its predictions would mix two runs); a last line cut short by a crash is dropped.
 */
public final class PredictionLog implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final Map<Integer, ObjectNode> entries;
    private final BufferedWriter out;

    private PredictionLog(Path file, Map<Integer, ObjectNode> entries, BufferedWriter out) {
        this.file = file;
        this.entries = entries;
        this.out = out;
    }

    /** Opens (resuming) or creates the log at {@code file} for a run with {@code config}. */
    public static PredictionLog open(Path file, ObjectNode config) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Map<Integer, ObjectNode> entries = new TreeMap<>();
            if (Files.exists(file) && Files.size(file) > 0) {
                List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
                List<String> kept = new ArrayList<>();
                for (int i = 0; i < lines.size(); i++) {
                    String line = lines.get(i);
                    if (line.isBlank()) continue;
                    JsonNode node;
                    try {
                        node = JSON.readTree(line);
                    } catch (JsonProcessingException e) {
                        if (i == lines.size() - 1) break; // an interrupted write: that doc is generated again
                        throw new IllegalArgumentException(file + " line " + (i + 1) + " is not JSON: " + e.getOriginalMessage());
                    }
                    if (kept.isEmpty()) {
                        if (!config.equals(node.get("config"))) {
                            throw new IllegalArgumentException(file + " was written by a run with other settings "
                                    + node.get("config") + "; this run has " + config + ": use another --out or delete the log");
                        }
                    } else {
                        if (!(node instanceof ObjectNode entry) || !node.has("doc_id") || !node.has("prediction")) {
                            throw new IllegalArgumentException(file + " line " + (i + 1) + " lacks doc_id/prediction: " + line);
                        }
                        entries.put(entry.get("doc_id").intValue(), entry);
                    }
                    kept.add(line);
                }
                if (kept.size() != lines.stream().filter(l -> !l.isBlank()).count()) {
                    Files.write(file, kept, StandardCharsets.UTF_8); // drop the cut-off line
                }
                if (kept.isEmpty()) writeHeader(file, config);
            } else {
                writeHeader(file, config);
            }
            BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
            return new PredictionLog(file, entries, out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open prediction log " + file, e);
        }
    }

    private static void writeHeader(Path file, ObjectNode config) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        header.set("config", config);
        Files.writeString(file, JSON.writeValueAsString(header) + "\n", StandardCharsets.UTF_8);
    }

    /** The logged entry of {@code docId}, or null. */
    public ObjectNode get(int docId) {
        return entries.get(docId);
    }

    public boolean has(int docId) {
        return entries.containsKey(docId);
    }

    /** Docs logged so far. */
    public int size() {
        return entries.size();
    }

    /** Appends one prediction (must carry doc_id and prediction) and flushes it to disk. */
    public void append(ObjectNode entry) {
        int id = entry.get("doc_id").intValue();
        if (entries.containsKey(id)) throw new IllegalStateException(file + ": doc " + id + " is already logged");
        try {
            out.write(JSON.writeValueAsString(entry));
            out.write('\n');
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write prediction log " + file, e);
        }
        entries.put(id, entry);
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
