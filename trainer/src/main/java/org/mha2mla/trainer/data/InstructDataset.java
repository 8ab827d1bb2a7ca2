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
            while (p.nextToken() == JsonToken.START_OBJECT) {
                samples.add(parse(json, samples.size(), om.readTree(p)));
            }
        } catch (IOException e) {
            throw new IllegalArgumentException(json + ": cannot read LLaVA-instruct JSON (" + e.getMessage() + ")", e);
        }
        if (samples.isEmpty()) throw new IllegalArgumentException(json + ": no samples");
        Path root = imageRoot != null ? imageRoot : json.toAbsolutePath().getParent();
        return new InstructDataset(json, root, seed, List.copyOf(samples));
    }

    private static InstructSample parse(Path json, int i, JsonNode n) {
        String id = n.hasNonNull("id") ? n.get("id").asText() : String.valueOf(i);
        List<String> images = new ArrayList<>();
        JsonNode img = n.get("image");
        if (img != null && img.isArray()) {
            img.forEach(x -> images.add(x.asText()));
        } else if (img != null && !img.isNull()) {
            images.add(img.asText());
        }
        JsonNode conv = n.get("conversations");
        if (conv == null || !conv.isArray() || conv.isEmpty()) {
            throw new IllegalArgumentException(json + ": sample " + i + " ('" + id + "') has no 'conversations' list");
        }
        List<InstructSample.Turn> turns = new ArrayList<>();
        for (JsonNode t : conv) {
            if (!t.hasNonNull("from") || !t.hasNonNull("value")) {
                throw new IllegalArgumentException(json + ": sample '" + id + "' has a turn without 'from'/'value': " + t);
            }
            turns.add(new InstructSample.Turn(t.get("from").asText(), t.get("value").asText()));
        }
        return new InstructSample(id, images, turns);
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
