package org.mha2mla.cli.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.core.config.ClipVisionConfig;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.Qwen25VlVisionConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.fixtures.Fixtures;

/**
 * The fixtures' config.json with fields replaced by other values and types, removed, added, or the text cut and
 * flipped. An accepted config must describe a model that can be built: every size positive, heads a multiple of KV
 * heads, patches tiling the image, windows at least a merged patch, RoPE sections summing to d_h/2, finite positive
 * epsilons and bases, the feature layer inside the tower.
 */
class ConfigFuzzTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final Path FIXTURES = Fixtures.hfRoot();
    /** Fields a config may lack and the fuzzer adds. */
    private static final String[] EXTRA = {"head_dim", "num_key_value_heads", "vision_feature_layer", "image_grid_pinpoints", "window_size",
            "rope_theta", "rope_scaling", "text_config", "vision_config", "mha2mla", "use_sliding_window", "tie_word_embeddings"};

    @TempDir
    Path tmp;

    @Test
    void mutatedConfigsAreRefusedClearlyOrDescribeABuildableModel() throws Exception {
        Path file = tmp.resolve("config.json");
        Fuzz fuzz = new Fuzz("config.json", line -> line.contains(file.toString()));
        Random r = Fuzz.random("config.json");
        List<String> bases = new ArrayList<>();
        for (String m : new String[] {"llava", "llava_next", "qwen2_5_vl"}) bases.add(Files.readString(FIXTURES.resolve(m).resolve("config.json")));
        int n = Fuzz.cases(3000);
        for (int i = 0; i < n; i++) {
            String base = bases.get(r.nextInt(bases.size()));
            String text = r.nextInt(10) == 0 ? mutateText(base, r) : mutateTree(base, r);
            Files.writeString(file, text);
            fuzz.check("case " + i, () -> {
                VlmConfig c = HfConfigParser.read(tmp);
                HfConfigParser.readConversion(tmp);
                checkBuildable(c);
            }, file);
        }
        fuzz.finish();
    }

    private static final Object[] VALUES = {0L, -1L, 1L, 2L, 3L, 5L, 7L, 64L, 4096L, (long) Integer.MAX_VALUE, 1L << 31, -(1L << 31), 1e-300,
            1e300, 0.5, -0.0, "x", "", true, null, "[]", "{}", "[1, 2, 3]", "[0, 0, 0]", "[[336, 672]]", "[[0, 1]]"};

    static JsonNode value(Random r) throws Exception {
        Object v = VALUES[r.nextInt(VALUES.length)];
        if (v == null) return F.nullNode();
        if (v instanceof Long l) return F.numberNode(l);
        if (v instanceof Double d) return F.numberNode(d);
        if (v instanceof Boolean b) return F.booleanNode(b);
        String s = (String) v;
        return s.startsWith("[") || s.startsWith("{") ? JSON.readTree(s) : F.textNode(s);
    }

    /** One to four edits of random fields anywhere in the tree: replaced, removed, scaled, or an extra field added. */
    static String mutateTree(String base, Random r) throws Exception {
        ObjectNode root = (ObjectNode) JSON.readTree(base);
        for (int edits = 1 + r.nextInt(4); edits > 0; edits--) {
            List<ObjectNode> parents = new ArrayList<>();
            collect(root, parents);
            ObjectNode p = parents.get(r.nextInt(parents.size()));
            List<String> fields = new ArrayList<>();
            p.fieldNames().forEachRemaining(fields::add);
            String f = fields.isEmpty() ? EXTRA[0] : fields.get(r.nextInt(fields.size()));
            switch (r.nextInt(6)) {
                case 0, 1 -> p.set(f, value(r));
                case 2 -> p.remove(f);
                case 3 -> {
                    JsonNode v = p.get(f);
                    if (v != null && v.isIntegralNumber()) p.put(f, v.asLong() * (r.nextInt(5) - 1) + r.nextInt(3) - 1);
                }
                case 4 -> p.set(EXTRA[r.nextInt(EXTRA.length)], value(r));
                default -> {
                    ObjectNode rope = p.putObject("rope_scaling");
                    rope.put("rope_type", r.nextBoolean() ? "default" : "mrope");
                    ArrayNode sec = rope.putArray("mrope_section");
                    for (int k = r.nextInt(4); k > 0; k--) sec.add(r.nextInt(12) - 2);
                }
            }
        }
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    }

    private static void collect(ObjectNode n, List<ObjectNode> out) {
        out.add(n);
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            JsonNode v = it.next().getValue();
            if (v instanceof ObjectNode o) collect(o, out);
        }
    }

    /** The text cut short or a few characters replaced (mostly invalid JSON). */
    static String mutateText(String base, Random r) {
        byte[] b = base.getBytes(StandardCharsets.UTF_8);
        if (r.nextBoolean()) return new String(b, 0, r.nextInt(b.length), StandardCharsets.UTF_8);
        byte[] pool = "{}[],:\"0-9ex \u0000".getBytes(StandardCharsets.UTF_8);
        for (int k = 1 + r.nextInt(4); k > 0; k--) b[r.nextInt(b.length)] = pool[r.nextInt(pool.length)];
        return new String(b, StandardCharsets.UTF_8);
    }

    static void checkBuildable(VlmConfig c) {
        TextConfig t = c.textConfig();
        assertTrue(t.vocabSize() > 0 && t.hiddenSize() > 0 && t.intermediateSize() > 0 && t.numHiddenLayers() > 0
                && t.numAttentionHeads() > 0 && t.numKeyValueHeads() > 0 && t.headDim() > 0 && t.maxPositionEmbeddings() > 0, t.toString());
        assertTrue(t.numAttentionHeads() % t.numKeyValueHeads() == 0 && t.groupSize() >= 1 && t.ropePairs() >= 1, t.toString());
        assertTrue(Double.isFinite(t.rmsNormEps()) && t.rmsNormEps() > 0 && Double.isFinite(t.ropeTheta()) && t.ropeTheta() > 0, t.toString());
        if (t.isMrope()) {
            int sum = 0;
            for (int s : t.mropeSection()) {
                assertTrue(s >= 0, "negative M-RoPE section");
                sum += s;
            }
            assertTrue(sum == t.ropePairs(), "M-RoPE sections sum to " + sum);
        }
        if (c instanceof LlavaConfig l) {
            ClipVisionConfig v = l.visionConfig();
            assertTrue(v.hiddenSize() > 0 && v.numAttentionHeads() > 0 && v.hiddenSize() % v.numAttentionHeads() == 0 && v.headDim() > 0, v.toString());
            assertTrue(v.patchSize() > 0 && v.imageSize() % v.patchSize() == 0 && v.patchesPerSide() > 0 && v.numPositions() > 1, v.toString());
            assertTrue(v.numHiddenLayers() > 0 && v.numChannels() > 0 && v.intermediateSize() > 0, v.toString());
            assertTrue(l.visionFeatureLayer() >= -(v.numHiddenLayers() + 1) && l.visionFeatureLayer() <= v.numHiddenLayers(), "feature layer");
            assertTrue(l.imageTokenIndex() >= 0, "image token");
            for (int[] p : l.imageGridPinpoints()) assertTrue(p[0] > 0 && p[1] > 0, "pinpoint");
        } else {
            Qwen25VlVisionConfig v = ((Qwen25VlConfig) c).visionConfig();
            assertTrue(v.depth() > 0 && v.numHeads() > 0 && v.hiddenSize() % v.numHeads() == 0 && v.headDim() > 0, v.toString());
            assertTrue(v.patchSize() > 0 && v.spatialMergeSize() > 0 && v.temporalPatchSize() > 0 && v.patchVolume() > 0, v.toString());
            assertTrue(v.windowSize() >= v.patchSize() * v.spatialMergeSize() && v.outHiddenSize() == t.hiddenSize(), v.toString());
            for (int i : v.fullattBlockIndexes()) assertTrue(i >= 0 && i < v.depth(), "full-attention block " + i);
        }
    }
}
