import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;
import org.mha2mla.cli.demo.DemoPipeline;
import org.mha2mla.evaluation.synthetic.Scene;
import org.mha2mla.evaluation.synthetic.ShapesGenerator;
import org.mha2mla.evaluation.synthetic.SyntheticShapesData;
import org.mha2mla.trainer.pretrain.ScratchModel;
import org.mha2mla.trainer.pretrain.WordLevelTokenizer;

/**
 * Writes the demo's synthetic data with many training images in a form small enough for the GPU machine's 64 MiB
 * (for tools/demo_search.py, DEMO_PACK=out DEMO_INIT=out/init): the generator's PNGs as one palette byte per pixel
 * (train.pal.gz, test.pal.gz, in the JSON files' order), train.json.gz, test.json, and the demo's initial model folder
 * (config, tokenizer and processor files; the search builds its own weights).
 *
 * <pre>java -cp cli/target/mha2mla-cli.jar tools/PackShapes.java 96000 1234 .gpudata</pre>
 */
public class PackShapes {

    /** Every colour a picture holds: the canvas, the outline, the shapes' colours (drawn without antialiasing). */
    static int[] palette() {
        Scene.Colour[] colours = Scene.Colour.values();
        int[] pal = new int[2 + colours.length];
        pal[0] = Scene.BACKGROUND.getRGB() & 0xFFFFFF;
        pal[1] = 0x000000;
        for (int i = 0; i < colours.length; i++) pal[2 + i] = colours[i].rgb();
        return pal;
    }

    public static void main(String[] args) throws IOException {
        int trainImages = Integer.parseInt(args[0]);
        long seed = Long.parseLong(args[1]);
        Path out = Files.createDirectories(Path.of(args[2]));
        Path pngs = Files.createTempDirectory("shapes-png");   // ~5 KB a PNG: kept out of the folder that travels
        DemoPipeline.Settings full = DemoPipeline.Settings.full();
        SyntheticShapesData.Sizes sizes = full.data();
        SyntheticShapesData.write(pngs, new SyntheticShapesData.Sizes(sizes.imageSize(), trainImages, sizes.calibration(), sizes.testPerType()), seed);
        int[] pal = palette();
        for (String split : new String[] {"train", "test"}) {
            JsonNode records = new ObjectMapper().readTree(pngs.resolve(split + ".json").toFile());
            try (OutputStream o = new BufferedOutputStream(new GZIPOutputStream(Files.newOutputStream(out.resolve(split + ".pal.gz"))))) {
                for (JsonNode r : records) {
                    Path file = pngs.resolve(r.get("image").asText());
                    BufferedImage img = ImageIO.read(file.toFile());
                    for (int y = 0; y < img.getHeight(); y++) {
                        for (int x = 0; x < img.getWidth(); x++) {
                            int rgb = img.getRGB(x, y) & 0xFFFFFF, k = 0;
                            while (k < pal.length && pal[k] != rgb) k++;
                            if (k == pal.length) throw new IllegalStateException(file + ": colour " + Integer.toHexString(rgb) + " is not in the palette");
                            o.write(k);
                        }
                    }
                }
            }
        }
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(out.resolve("train.json.gz")))) {
            Files.copy(pngs.resolve("train.json"), o);
        }
        Files.copy(pngs.resolve("test.json"), out.resolve("test.json"));
        WordLevelTokenizer tokenizer = WordLevelTokenizer.of(ShapesGenerator.vocabulary());
        Path init = out.resolve("init");
        ScratchModel.write(init, full.model(), tokenizer, ScratchModel.initialWeights(full.model(), tokenizer.size(), seed));
        Files.delete(init.resolve("model.safetensors"));
        try (var files = Files.walk(pngs)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
        System.out.println("packed " + trainImages + " training images into " + out);
    }
}
