import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.cli.demo.DemoPipeline;
import org.mha2mla.evaluation.synthetic.ShapesGenerator;
import org.mha2mla.evaluation.synthetic.SyntheticShapesData;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.trainer.pretrain.ScratchModel;

/**
 * Can the demo's model learn relative position at all? Pretrains it (the demo's settings, {@code steps} updates of
 * 32) on the position questions of a demo data folder alone, one per conversation, with the M-RoPE sections given
 * (t/h/w pairs, e.g. 4/6/6 as the demo or 0/2/14), and scores every ordered pair of objects of every held-out scene
 * along every axis their cells differ on (920 questions for the demo's held-out split), and of the first 100
 * training scenes (memorised or not). Answering from the axis words alone scores exactly 0.5 on both.
 *
 * <pre>java -cp cli/target/mha2mla-cli.jar tools/PositionProbe.java demo-out/data 600 0/2/14 probe-out</pre>
 */
public class PositionProbe {

    static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws IOException {
        if (args.length != 4) {
            System.err.println("usage: java -cp cli/target/mha2mla-cli.jar tools/PositionProbe.java DATA_DIR STEPS T/H/W OUT_DIR");
            System.exit(2);
        }
        Path data = Path.of(args[0]);
        int steps = Integer.parseInt(args[1]);
        int[] sections = Arrays.stream(args[2].split("/")).mapToInt(Integer::parseInt).toArray();
        Path out = Path.of(args[3]);
        Path probeData = out.resolve("probe-data");
        Files.createDirectories(probeData);
        Path images = probeData.resolve("images");
        if (!Files.exists(images)) Files.createSymbolicLink(images, data.resolve("images").toAbsolutePath());
        List<JsonNode> train = records(data.resolve("train.json"));
        write(probeData.resolve("train.json"), positionOnly(train));
        write(probeData.resolve("test.json"), allPairs(records(data.resolve("test.json")), "heldout"));
        write(probeData.resolve("trainpairs.json"), allPairs(train.subList(0, 100), "train"));
        Files.copy(data.resolve("calibration.json"), probeData.resolve("calibration.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);

        DemoPipeline.Settings f = DemoPipeline.Settings.full();
        ScratchModel.Spec spec = f.model().toBuilder().mropeSection(sections).build();
        DemoPipeline.Settings s = f.toBuilder().name("probe").model(spec).steps(steps).warmupFraction(0.05).stage1Steps(0).stage2Steps(0)
                .baselines(false).budgetSeconds(0).build();
        DemoPipeline p = new DemoPipeline(out.resolve("run"), s, 1234, System.out);
        Path calibration = probeData.resolve("calibration.json");
        SyntheticShapesData.Splits heldOut = new SyntheticShapesData.Splits(probeData, probeData.resolve("train.json"), calibration,
                probeData.resolve("test.json"));
        SyntheticShapesData.Splits trainPairs = new SyntheticShapesData.Splits(probeData, probeData.resolve("train.json"), calibration,
                probeData.resolve("trainpairs.json"));
        DemoPipeline.Pretrained model = p.pretrain(heldOut, System.nanoTime());
        for (DemoPipeline.Evaluation e : List.of(p.evaluate(model.folder(), heldOut, "heldout-pairs", "", CachePolicy.FULL),
                p.evaluate(model.folder(), trainPairs, "training-pairs", "", CachePolicy.FULL))) {
            System.out.printf("PROBE sections %s, %d updates: %s %.4f (%d questions)%n", args[2], steps, e.variant(), e.accuracy(),
                    e.result().aggregate().get("n").intValue());
        }
    }

    static List<JsonNode> records(Path file) throws IOException {
        List<JsonNode> list = new ArrayList<>();
        JSON.readTree(file.toFile()).forEach(list::add);
        return list;
    }

    static void write(Path file, ArrayNode records) throws IOException {
        JSON.writeValue(file.toFile(), records);
    }

    /** Each training record's position question alone, the image mark moved onto it. */
    static ArrayNode positionOnly(List<JsonNode> train) {
        ArrayNode out = JSON.createArrayNode();
        for (JsonNode r : train) {
            List<String> types = new ArrayList<>();
            r.get("question_types").forEach(t -> types.add(t.asText()));
            int k = types.indexOf("position");
            if (k < 0) continue;
            ObjectNode q = (ObjectNode) r.get("conversations").get(2 * k).deepCopy();
            if (!q.get("value").asText().startsWith("<image>")) q.put("value", "<image>\n" + q.get("value").asText());
            ObjectNode rec = ((ObjectNode) r).deepCopy();
            rec.putArray("conversations").add(q).add(r.get("conversations").get(2 * k + 1));
            rec.putArray("question_types").add("position");
            out.add(rec);
        }
        return out;
    }

    /** The generator's position question about every ordered pair of every scene, along each axis their cells differ on. */
    static ArrayNode allPairs(List<JsonNode> scenes, String prefix) {
        ArrayNode out = JSON.createArrayNode();
        for (JsonNode r : scenes) {
            for (JsonNode a : r.get("objects")) {
                for (JsonNode b : r.get("objects")) {
                    if (a == b) continue;
                    for (String axis : List.of("col", "row")) {
                        if (a.get(axis).asInt() == b.get(axis).asInt()) continue;
                        ShapesGenerator.Question q = ShapesGenerator.position(a.get("color").asText(), b.get("color").asText(),
                                axis.equals("col"), a.get(axis).asInt() < b.get(axis).asInt());
                        ObjectNode rec = out.addObject();
                        rec.put("id", prefix + "_" + out.size());
                        rec.put("image", r.get("image").asText());
                        ArrayNode conv = rec.putArray("conversations");
                        conv.addObject().put("from", "human").put("value", "<image>\n" + q.text());
                        conv.addObject().put("from", "gpt").put("value", q.answer());
                        rec.put("question_type", "position");
                    }
                }
            }
        }
        return out;
    }
}
