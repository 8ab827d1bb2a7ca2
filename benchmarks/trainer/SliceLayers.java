import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.importers.weights.Checkpoint;

/**
 * A model of the same widths with only the first N decoder layers: every tensor of a Hugging Face folder except the
 * decoder layers from N on, in its stored dtype, with config.json's num_hidden_layers (and max_window_layers) set to N
 * and the side files copied. Used to measure a real-width model's training memory and time in a few minutes
 * (README.md, "Memory").
 *
 *   java -cp ... benchmarks/trainer/SliceLayers.java --model DIR --layers 2 --out DIR
 */
public final class SliceLayers {

    /** A decoder layer key: {@code model.layers.N.}, {@code language_model.model.layers.N.}, {@code model.language_model.layers.N.}. */
    private static final Pattern DECODER_LAYER = Pattern.compile("^(?:language_model\\.)?model\\.(?:language_model\\.)?layers\\.(\\d+)\\.");

    public static void main(String[] args) throws Exception {
        Path model = null;
        Path out = null;
        int layers = 2;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--model" -> model = Path.of(args[i + 1]);
                case "--out" -> out = Path.of(args[i + 1]);
                case "--layers" -> layers = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (model == null || out == null) throw new IllegalArgumentException("usage: --model DIR --layers N --out DIR");
        if (Files.exists(out)) throw new IllegalArgumentException(out + " exists; choose another --out");
        Files.createDirectories(out);
        try (Checkpoint c = Checkpoint.open(model)) {
            List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
            for (String name : c.names()) {
                Matcher m = DECODER_LAYER.matcher(name);
                if (m.find() && Integer.parseInt(m.group(1)) >= layers) continue;
                entries.add(new SafeTensorsWriter.Entry(name, c.info(name).dtype(), c.info(name).shape(), () -> c.get(name)));
            }
            SafeTensorsWriter.writeSharded(out, entries, Map.of("format", "pt"), 5_000_000_000L);
        }
        ObjectMapper om = new ObjectMapper();
        ObjectNode cfg = (ObjectNode) om.readTree(model.resolve("config.json").toFile());
        ObjectNode text = cfg.has("text_config") ? (ObjectNode) cfg.get("text_config") : cfg;
        text.put("num_hidden_layers", layers);
        if (text.has("max_window_layers")) text.put("max_window_layers", layers);
        om.writerWithDefaultPrettyPrinter().writeValue(out.resolve("config.json").toFile(), cfg);
        try (Stream<Path> files = Files.list(model)) {
            for (Path f : files.toList()) {
                String n = f.getFileName().toString();
                if (n.endsWith(".safetensors") || n.equals(SafeTensorsWriter.INDEX_FILE) || n.equals("config.json")) continue;
                if (Files.isRegularFile(f)) Files.copy(f, out.resolve(n));
            }
        }
        System.out.println("wrote " + out + ": the first " + layers + " decoder layers of " + model);
    }
}
