package org.mha2mla.trainer.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.mha2mla.trainer.LossMask;

/**
 * A LLaVA-instruct JSON file read as an endless, reproducible stream: every epoch visits every sample once in
 * an order shuffled from {@code (seed, epoch)}, so the position (epoch, index) is the whole state a resume needs
 * — the shuffling "RNG state" is a pure function of it.
 *
 * <p>The file is read with Jackson's streaming parser one record at a time (LLaVA-665k is ~1 GB of JSON; a
 * tree of the whole file would be several times that). Image paths stay relative to {@link #imageRoot()}.
 */
public final class InstructDataset {

    private final Path file;
    private final Path imageRoot;
    private final long seed;
    private final List<InstructSample> samples;
    private long epoch = -1;
    private int[] order;
    private long index;

    private InstructDataset(Path file, Path imageRoot, long seed, List<InstructSample> samples) {
        this.file = file;
        this.imageRoot = imageRoot;
        this.seed = seed;
        this.samples = samples;
        seek(DataPosition.START);
    }

    /** Reads {@code json}; images resolve against {@code imageRoot} (null: the JSON file's folder). */
    public static InstructDataset load(Path json, Path imageRoot, long seed) {
        List<InstructSample> samples = new ArrayList<>();
        ObjectMapper om = new ObjectMapper();
        try (JsonParser p = om.getFactory().createParser(json.toFile())) {
            if (p.nextToken() != JsonToken.START_ARRAY) {
                throw new IllegalArgumentException(json + ": expected a JSON list of samples, found " + p.currentToken());
            }
            for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
                if (t == null) throw new IllegalArgumentException(json + ": the list of samples is not closed (the file is cut short)");
                if (t != JsonToken.START_OBJECT) {
                    throw new IllegalArgumentException(json + ": record " + samples.size() + " is " + t + ", not an object {\"id\", \"image\", "
                            + "\"conversations\"}");
                }
                samples.add(parse(json, samples.size(), om.readTree(p)));
            }
        } catch (IOException e) {
            throw new IllegalArgumentException(json + ": cannot read LLaVA-instruct JSON (" + e.getMessage() + ")", e);
        }
        if (samples.isEmpty()) throw new IllegalArgumentException(json + ": no samples");
        Path root = imageRoot != null ? imageRoot : json.toAbsolutePath().getParent();
        return new InstructDataset(json, root, seed, List.copyOf(samples));
    }

    /**
     * One record, checked as LLaVA's own preprocessing checks it: {@code image} a path or a list of paths,
     * {@code conversations} a list of {@code {"from", "value"}} string pairs that alternate human / gpt starting with
     * human (after an optional system turn). A value that is not a string (an object, a number) is refused rather than
     * read as "".
     */
    private static InstructSample parse(Path json, int i, JsonNode n) {
        String id = n.hasNonNull("id") && n.get("id").isValueNode() ? n.get("id").asText() : String.valueOf(i);
        String where = json + ": sample " + i + " ('" + id + "')";
        List<String> images = new ArrayList<>();
        JsonNode img = n.get("image");
        if (img != null && img.isArray()) {
            for (JsonNode x : img) {
                if (!x.isTextual()) throw new IllegalArgumentException(where + ": 'image' must hold file paths, got " + x);
                images.add(x.asText());
            }
        } else if (img != null && !img.isNull()) {
            if (!img.isTextual()) throw new IllegalArgumentException(where + ": 'image' must be a file path or a list of paths, got " + img);
            images.add(img.asText());
        }
        JsonNode conv = n.get("conversations");
        if (conv == null || !conv.isArray() || conv.isEmpty()) {
            throw new IllegalArgumentException(where + " has no 'conversations' list");
        }
        List<InstructSample.Turn> turns = new ArrayList<>();
        for (JsonNode t : conv) {
            int k = turns.size();
            if (!t.isObject() || !t.hasNonNull("from") || !t.hasNonNull("value")) {
                throw new IllegalArgumentException(where + ": turn " + k + " needs 'from' and 'value', got " + t);
            }
            if (!t.get("from").isTextual() || !t.get("value").isTextual()) {
                throw new IllegalArgumentException(where + ": turn " + k + ": 'from' and 'value' must be strings, got "
                        + t.get("from") + " and " + abbreviate(t.get("value").toString()));
            }
            turns.add(new InstructSample.Turn(t.get("from").asText(), t.get("value").asText()));
        }
        requireTurnOrder(where, turns);
        for (int k = 0; k < turns.size(); k++) {
            // Chat templates place images in user messages only: a mark elsewhere would be dropped from the prompt.
            if (turns.get(k).value().contains(InstructSample.IMAGE_PLACEHOLDER)
                    && !InstructSample.role(turns.get(k).from(), where).equals(LossMask.USER)) {
                throw new IllegalArgumentException(where + ": turn " + k + " from '" + turns.get(k).from() + "' holds an "
                        + InstructSample.IMAGE_PLACEHOLDER + " mark; images go in human turns");
            }
        }
        return new InstructSample(id, images, turns);
    }

    /** Optional system turn, then human, gpt, human, gpt … (LLaVA's preprocess asserts the same alternation). */
    static void requireTurnOrder(String where, List<InstructSample.Turn> turns) {
        int start = 0;
        if (InstructSample.role(turns.get(0).from(), where).equals(LossMask.SYSTEM)) start = 1;
        for (int k = start; k < turns.size(); k++) {
            String role = InstructSample.role(turns.get(k).from(), where);
            String expected = (k - start) % 2 == 0 ? LossMask.USER : LossMask.ASSISTANT;
            if (!role.equals(expected)) {
                throw new IllegalArgumentException(where + ": turn " + k + " is from '" + turns.get(k).from() + "' where a "
                        + (expected.equals(LossMask.USER) ? "human" : "gpt") + " turn belongs: conversations alternate human and gpt "
                        + "turns, starting with human (after an optional system turn)");
            }
        }
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }

    public Path file() {
        return file;
    }

    public Path imageRoot() {
        return imageRoot;
    }

    public long seed() {
        return seed;
    }

    public int size() {
        return samples.size();
    }

    public List<InstructSample> samples() {
        return samples;
    }

    /** The position of the next sample {@link #next()} returns. */
    public DataPosition position() {
        return new DataPosition(epoch, index);
    }

    /** Continues from {@code position} (as saved with a checkpoint). */
    public void seek(DataPosition position) {
        if (position.index() > samples.size()) {
            throw new IllegalArgumentException(file + ": data position " + position + " is past the " + samples.size() + " samples");
        }
        if (position.epoch() != epoch) {
            order = order(position.epoch());
            epoch = position.epoch();
        }
        index = position.index();
    }

    /** The next sample; after the last of an epoch, the next epoch starts in a new order. */
    public InstructSample next() {
        if (index == samples.size()) seek(new DataPosition(epoch + 1, 0));
        return samples.get(order[(int) index++]);
    }

    /** Epoch {@code e}'s visiting order: a Fisher–Yates shuffle seeded with (seed, e). */
    public int[] order(long e) {
        int[] out = new int[samples.size()];
        for (int i = 0; i < out.length; i++) out[i] = i;
        // java.util.Random's LCG is specified by the JDK, so the order is the same on every JVM.
        Random rng = new Random(seed * 0x9E3779B97F4A7C15L + e);
        for (int i = out.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = out[i];
            out[i] = out[j];
            out[j] = t;
        }
        return out;
    }
}
