package org.mha2mla.evaluation.synthetic;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.IntStream;

import javax.imageio.ImageIO;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.synthetic.ShapesGenerator.Question;
import org.mha2mla.evaluation.synthetic.ShapesGenerator.Type;

/**
 * Writes the synthetic shapes task as LLaVA-instruct JSON + PNG files, the format the trainer and the converter
 * read real data in:
 * <pre>
 *   root/train.json        one record per image, every question type the scene allows as turns in random order
 *   root/calibration.json  one question per record, types in turn (MD-SVD / partial-RoPE calibration)
 *   root/test.json         held out: {@code testPerType} questions of every type, one per record and image;
 *                          EXIST exactly half yes
 *   root/images/{split}_{i}.png
 * </pre>
 * Records: {@code {"id", "image", "conversations": [{"from": "human", "value": "<image>\nWhat color is the circle?"},
 * {"from": "gpt", "value": "red"}], "question_type", "objects"}}; the last two are extra fields LLaVA loaders ignore
 * ({@code objects}: shape, color, row, col, cx, cy, side per item). Each split draws from its own seed, so the test
 * images are not the training images.
 */
public final class SyntheticShapesData {

    public static final String TRAIN = "train.json";
    public static final String CALIBRATION = "calibration.json";
    public static final String TEST = "test.json";
    public static final String IMAGES = "images";
    public static final String IMAGE_MARK = "<image>\n";

    /** How much to write. */
    public record Sizes(int imageSize, int trainImages, int calibration, int testPerType) {
        public Sizes {
            if (trainImages < 1 || calibration < 0 || testPerType < 1) {
                throw new IllegalArgumentException("need train images >= 1, calibration >= 0, test per type >= 1: " + trainImages
                        + ", " + calibration + ", " + testPerType);
            }
        }
    }

    /** Where the splits were written. */
    public record Splits(Path root, Path train, Path calibration, Path test) {
    }

    private SyntheticShapesData() {
    }

    public static Splits write(Path root, Sizes sizes, long seed) {
        ObjectMapper om = new ObjectMapper();
        try {
            Files.createDirectories(root.resolve(IMAGES));
            List<Scene> scenes = new ArrayList<>();
            List<String> names = new ArrayList<>();

            ShapesGenerator gen = new ShapesGenerator(sizes.imageSize(), seed * 3 + 1);
            ArrayNode train = om.createArrayNode();
            for (int i = 0; i < sizes.trainImages(); i++) {
                Scene s = gen.scene();
                List<Question> qs = new ArrayList<>();
                for (Type t : Type.values()) gen.question(s, t).ifPresent(qs::add);
                Collections.shuffle(qs, gen.random());
                String image = add(scenes, names, s, "train_" + i);
                train.add(record(om, "train_" + i, image, s, qs, null));
            }

            gen = new ShapesGenerator(sizes.imageSize(), seed * 3 + 2);
            ArrayNode calibration = om.createArrayNode();
            for (int i = 0; i < sizes.calibration(); i++) {
                Type t = Type.values()[i % Type.values().length];
                Scene s;
                Question q;
                do {
                    s = gen.scene();
                    q = gen.question(s, t).orElse(null);
                } while (q == null);
                String image = add(scenes, names, s, "calibration_" + i);
                calibration.add(record(om, "calibration_" + i, image, s, List.of(q), t));
            }

            gen = new ShapesGenerator(sizes.imageSize(), seed * 3 + 3);
            ArrayNode test = om.createArrayNode();
            int i = 0;
            for (Type t : Type.values()) {
                for (int k = 0; k < sizes.testPerType(); k++, i++) {
                    Scene s;
                    Question q;
                    do {
                        s = gen.scene();
                        q = t == Type.EXIST ? gen.exist(s, k % 2 == 0) : gen.question(s, t).orElse(null);
                    } while (q == null);
                    String image = add(scenes, names, s, "test_" + i);
                    test.add(record(om, "test_" + i, image, s, List.of(q), t));
                }
            }

            // Drawing and PNG encoding are independent per image: both cores.
            IntStream.range(0, scenes.size()).parallel().forEach(k -> writePng(scenes.get(k), root.resolve(names.get(k))));
            Splits splits = new Splits(root, root.resolve(TRAIN), root.resolve(CALIBRATION), root.resolve(TEST));
            om.writeValue(splits.train().toFile(), train);
            om.writeValue(splits.calibration().toFile(), calibration);
            om.writeValue(splits.test().toFile(), test);
            return splits;
        } catch (IOException e) {
            throw new UncheckedIOException(root + ": cannot write the synthetic shapes data (" + e.getMessage() + ")", e);
        }
    }

    private static String add(List<Scene> scenes, List<String> names, Scene s, String id) {
        String name = IMAGES + "/" + id + ".png";
        scenes.add(s);
        names.add(name);
        return name;
    }

    private static ObjectNode record(ObjectMapper om, String id, String image, Scene s, List<Question> qs, Type type) {
        ObjectNode r = om.createObjectNode();
        r.put("id", id);
        r.put("image", image);
        ArrayNode conv = r.putArray("conversations");
        for (int i = 0; i < qs.size(); i++) {
            conv.addObject().put("from", "human").put("value", (i == 0 ? IMAGE_MARK : "") + qs.get(i).text());
            conv.addObject().put("from", "gpt").put("value", qs.get(i).answer());
        }
        if (type != null) r.put("question_type", type.key());
        else {
            ArrayNode types = r.putArray("question_types");
            qs.forEach(q -> types.add(q.type().key()));
        }
        ArrayNode objects = r.putArray("objects");
        for (Scene.Item it : s.items()) {
            objects.addObject().put("shape", it.shape().word()).put("color", it.colour().word()).put("row", it.row())
                    .put("col", it.col()).put("cx", it.cx()).put("cy", it.cy()).put("side", it.side());
        }
        return r;
    }

    private static void writePng(Scene s, Path file) {
        try {
            if (!ImageIO.write(s.render(), "png", file.toFile())) throw new IOException("no PNG writer");
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot write the image", e);
        }
    }
}
