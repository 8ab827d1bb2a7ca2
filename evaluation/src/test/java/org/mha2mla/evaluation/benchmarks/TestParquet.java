package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Writes small parquet files in the hub datasets' layout for loader tests: pyarrow's physical schema for
 * 🤗 datasets features (string → binary (STRING), sequence → 3-level LIST with "element", Image → struct
 * {bytes, path}), SNAPPY-compressed like the hub's files, one row group per file.
 */
public final class TestParquet {
    /** Field type declarations, pasted into a message schema. */
    public static final String STRING = "optional binary %s (STRING);";
    public static final String INT64 = "optional int64 %s;";
    public static final String STRING_LIST = "optional group %s (LIST) { repeated group list { optional binary element (STRING); } }";
    public static final String IMAGE = "optional group %s { optional binary bytes; optional binary path (STRING); }";
    public static final String IMAGE_LIST = "optional group %s (LIST) { repeated group list { optional group element { optional binary bytes; optional binary path (STRING); } } }";

    private TestParquet() {
    }

    /** {@code message schema { ... }} from (name, declaration-format) pairs in column order. */
    public static MessageType schema(String... nameAndType) {
        StringBuilder s = new StringBuilder("message schema {\n");
        for (int i = 0; i < nameAndType.length; i += 2) {
            s.append("  ").append(String.format(nameAndType[i + 1], nameAndType[i])).append('\n');
        }
        return MessageTypeParser.parseMessageType(s.append("}").toString());
    }

    /** Writes rows: each JSON doc's fields go to the columns of the same name; {@code extra} adds e.g. images. */
    public static void write(Path file, MessageType schema, List<JsonNode> docs, BiConsumer<Integer, Group> extra) {
        try {
            Files.createDirectories(file.getParent());
            try (ParquetWriter<Group> w = ExampleParquetWriter.builder(new LocalOutputFile(file))
                    .withType(schema).withCompressionCodec(CompressionCodecName.SNAPPY)
                    .withWriteMode(ParquetFileWriter.Mode.OVERWRITE).build()) {
                SimpleGroupFactory f = new SimpleGroupFactory(schema);
                for (int i = 0; i < docs.size(); i++) {
                    Group g = f.newGroup();
                    for (Iterator<Map.Entry<String, JsonNode>> it = docs.get(i).fields(); it.hasNext(); ) {
                        Map.Entry<String, JsonNode> e = it.next();
                        put(g, e.getKey(), e.getValue());
                    }
                    if (extra != null) {
                        extra.accept(i, g);
                    }
                    w.write(g);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A JSON value into its column: null stays unset (a parquet null), arrays become LIST elements. */
    public static void put(Group g, String name, JsonNode v) {
        if (v.isNull()) {
            return;
        }
        if (v.isArray()) {
            Group list = g.addGroup(name);
            for (JsonNode e : v) {
                Group wrapper = list.addGroup("list");
                if (!e.isNull()) {
                    wrapper.append("element", e.asText());
                }
            }
        } else if (v.isIntegralNumber()) {
            g.append(name, v.longValue());
        } else {
            g.append(name, v.asText());
        }
    }

    public static void image(Group g, String name, byte[] bytes, String path) {
        Group img = g.addGroup(name).append("bytes", Binary.fromConstantByteArray(bytes));
        if (path != null) {
            img.append("path", path);
        }
    }

    public static void imageList(Group g, String name, List<byte[]> images) {
        Group list = g.addGroup(name);
        for (int i = 0; i < images.size(); i++) {
            list.addGroup("list").addGroup("element")
                    .append("bytes", Binary.fromConstantByteArray(images.get(i))).append("path", "frame" + i + ".png");
        }
    }

    /** A real PNG, distinct per seed, so loaders can be checked byte for byte. */
    public static byte[] png(int seed) {
        BufferedImage img = new BufferedImage(3 + seed % 5, 2 + seed % 3, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                img.setRGB(x, y, (int) ((seed * 2654435761L + x * 40503L + y * 9973L) % 0xFFFFFF));
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(img, "png", out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
