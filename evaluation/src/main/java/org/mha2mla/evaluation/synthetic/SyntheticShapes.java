package org.mha2mla.evaluation.synthetic;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.benchmarks.Benchmark;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.GenerationSettings;
import org.mha2mla.evaluation.benchmarks.ModelFamily;
import org.mha2mla.evaluation.benchmarks.PyText;
import org.mha2mla.evaluation.synthetic.ShapesGenerator.Type;

/**
 * The embedded demo's benchmark: the held-out split of the synthetic shapes task ({@link SyntheticShapesData}),
 * read from its LLaVA-instruct JSON, scored by exact match after normalisation (lower case, outer spaces and
 * final punctuation dropped, a leading article dropped, number words as digits), overall and per question type.
 *
 * <p>Docs: {@code id}, {@code question} (the human turn without the image mark), {@code answer},
 * {@code question_type}, {@code image} = {@code {"path", "image_index": 0}} with the PNG bytes in
 * {@link Doc#images()}. The prompt is the question as the model was trained on it (no post-prompt).
 */
public final class SyntheticShapes implements Benchmark {

    public static final String NAME = "synthetic_shapes";
    public static final String ACCURACY = "accuracy";
    private static final Map<String, String> NUMBERS = Map.of("zero", "0", "one", "1", "two", "2", "three", "3", "four", "4",
            "five", "5");

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String prompt(Doc doc, ModelFamily family) {
        return doc.text("question");
    }

    /** Greedy, a few tokens (one word and the end-of-turn token are enough). */
    @Override
    public GenerationSettings generation() {
        return GenerationSettings.greedy(4, null);
    }

    /**
     * The docs of {@code dataRoot/test.json}, or of {@code dataRoot} itself when it is a JSON file (e.g. the
     * calibration split); images resolve against the JSON file's folder.
     */
    @Override
    public Stream<Doc> stream(Path dataRoot, boolean withImages) throws IOException {
        Path file = Files.isRegularFile(dataRoot) ? dataRoot : dataRoot.resolve(SyntheticShapesData.TEST);
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + " not found: write the synthetic data first (SyntheticShapesData.write)");
        }
        JsonNode records = new ObjectMapper().readTree(file.toFile());
        if (!records.isArray()) throw new IOException(file + ": expected a JSON list of LLaVA-instruct records");
        Path folder = file.toAbsolutePath().getParent();
        List<Doc> docs = new ArrayList<>();
        for (JsonNode r : records) docs.add(doc(file, folder, r, withImages));
        return docs.stream();
    }

    private static Doc doc(Path file, Path folder, JsonNode r, boolean withImages) throws IOException {
        JsonNode conv = r.get("conversations");
        String id = r.path("id").asText("?");
        if (conv == null || conv.size() != 2 || !r.hasNonNull("image") || !r.hasNonNull("question_type")) {
            throw new IOException(file + ": record '" + id + "' must have one image, a question_type and one human/gpt turn pair");
        }
        String question = conv.get(0).path("value").asText();
        if (question.startsWith(SyntheticShapesData.IMAGE_MARK)) question = question.substring(SyntheticShapesData.IMAGE_MARK.length());
        ObjectNode fields = new ObjectMapper().createObjectNode();
        fields.put("id", id);
        fields.put("question", question);
        fields.put("answer", conv.get(1).path("value").asText());
        fields.put("question_type", Type.of(r.get("question_type").asText()).key());
        String image = r.get("image").asText();
        fields.putObject("image").put("path", image).put("image_index", 0);
        List<byte[]> images = new ArrayList<>();
        if (withImages) {
            Path png = folder.resolve(image);
            if (!Files.isRegularFile(png)) throw new IOException(file + ": record '" + id + "': image " + png + " not found");
            images.add(Files.readAllBytes(png));
        }
        return new Doc(fields, images);
    }

    @Override
    public JsonNode target(Doc doc) {
        return doc.get("answer");
    }

    @Override
    public ObjectNode processResults(Doc doc, String response) {
        String pred = normalize(response);
        String gt = normalize(doc.text("answer"));
        ObjectNode r = JsonNodeFactory.instance.objectNode();
        ObjectNode item = r.putObject(ACCURACY);
        item.put("id", doc.text("id"));
        item.put("question_type", doc.text("question_type"));
        item.put("score", pred.equals(gt) ? 1.0 : 0.0);
        item.put("prediction", pred);
        item.put("ground_truth", gt);
        return r;
    }

    /** {@code accuracy} over all results and {@code accuracy_<type>} per question type present. */
    @Override
    public ObjectNode aggregate(List<ObjectNode> results) {
        ObjectNode a = JsonNodeFactory.instance.objectNode();
        if (results.isEmpty()) return a;
        double total = 0;
        Map<String, double[]> byType = new LinkedHashMap<>();
        for (Type t : Type.values()) byType.put(t.key(), new double[2]);
        for (ObjectNode r : results) {
            JsonNode item = r.get(ACCURACY);
            double s = item.get("score").doubleValue();
            total += s;
            double[] c = byType.get(item.get("question_type").asText());
            c[0] += s;
            c[1]++;
        }
        a.put(ACCURACY, total / results.size());
        byType.forEach((t, c) -> {
            if (c[1] > 0) a.put(ACCURACY + "_" + t, c[0] / c[1]);
        });
        a.put("n", results.size());
        return a;
    }

    /** Lower case, trimmed, final punctuation and a leading article removed, number words as digits. */
    public static String normalize(String answer) {
        String s = PyText.strip(PyText.lower(answer)).replaceAll("\\s+", " ");
        while (!s.isEmpty() && ".!?,;:".indexOf(s.charAt(s.length() - 1)) >= 0) s = s.substring(0, s.length() - 1).strip();
        for (String article : List.of("a ", "an ", "the ")) {
            if (s.startsWith(article)) s = s.substring(article.length());
        }
        return NUMBERS.getOrDefault(s, s);
    }
}
