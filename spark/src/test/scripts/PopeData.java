import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;

/**
 * Test data for the Spark scripts, from one image: {@code DIR/pope/data/test-00000-of-00001.parquet} with DOCS rows in
 * lmms-lab/POPE's schema (yes/no object questions, answers alternating) and {@code DIR/calib.json}, SAMPLES
 * LLaVA-instruct records (every third text only, the others with the image, resized to SIZE×SIZE if given).
 * Run: {@code java -cp "spark/target/lib/*" spark/src/test/scripts/PopeData.java DIR IMAGE.png DOCS SAMPLES [SIZE]}.
 */
public class PopeData {
    public static void main(String[] args) throws Exception {
        if (args.length != 4 && args.length != 5) throw new IllegalArgumentException("usage: PopeData DIR IMAGE.png DOCS SAMPLES [SIZE]");
        Path dir = Path.of(args[0]);
        Path image = Path.of(args[1]);
        int docs = Integer.parseInt(args[2]);
        int samples = Integer.parseInt(args[3]);
        String[] objects = {"dog", "car", "cat", "red square", "person", "tree", "chair", "blue circle"};
        MessageType schema = MessageTypeParser.parseMessageType("message schema {\n"
                + "optional binary question_id (STRING); optional binary question (STRING); optional binary answer (STRING);\n"
                + "optional binary image_source (STRING); optional group image { optional binary bytes; optional binary path (STRING); }\n"
                + "optional binary category (STRING); }");
        Path file = dir.resolve("pope/data/test-00000-of-00001.parquet");
        Files.createDirectories(file.getParent());
        Files.deleteIfExists(file);
        byte[] png = Files.readAllBytes(image);
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(new LocalOutputFile(file)).withType(schema)
                .withCompressionCodec(CompressionCodecName.SNAPPY).build()) {
            SimpleGroupFactory f = new SimpleGroupFactory(schema);
            for (int i = 0; i < docs; i++) {
                String id = Integer.toString(i + 1);
                Group g = f.newGroup().append("question_id", id).append("question", "Is there a " + objects[i % objects.length] + " in the image?")
                        .append("answer", i % 2 == 0 ? "yes" : "no").append("image_source", "COCO_" + id).append("category", "random");
                g.addGroup("image").append("bytes", Binary.fromConstantByteArray(png)).append("path", "COCO_" + id + ".jpg");
                w.write(g);
            }
        }
        if (args.length == 5) {
            int size = Integer.parseInt(args[4]);
            java.awt.image.BufferedImage resized = new java.awt.image.BufferedImage(size, size, java.awt.image.BufferedImage.TYPE_INT_RGB);
            java.awt.Graphics2D g = resized.createGraphics();
            g.drawImage(javax.imageio.ImageIO.read(image.toFile()), 0, 0, size, size, null);
            g.dispose();
            javax.imageio.ImageIO.write(resized, "png", dir.resolve("image0.png").toFile());
        } else {
            Files.copy(image, dir.resolve("image0.png"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < samples; i++) {
            String object = objects[i % objects.length];
            json.append(i == 0 ? "" : ",\n").append(i % 3 == 2
                    ? "{\"id\": \"s" + i + "\", \"conversations\": [{\"from\": \"human\", \"value\": \"Name something like a " + object
                        + ".\"}, {\"from\": \"gpt\", \"value\": \"a " + object + "\"}]}"
                    : "{\"id\": \"s" + i + "\", \"image\": \"image0.png\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nIs there a "
                        + object + " here?\"}, {\"from\": \"gpt\", \"value\": \"" + (i % 2 == 0 ? "yes" : "no") + "\"}]}");
        }
        Files.writeString(dir.resolve("calib.json"), json.append("]\n"));
        System.out.println("wrote " + file + " (" + docs + " docs) and " + dir.resolve("calib.json") + " (" + samples + " samples)");
    }
}
