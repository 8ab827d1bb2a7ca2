package org.mha2mla.importers;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.family.FamilySpec;
import org.mha2mla.importers.family.FamilySpecs;
import org.mha2mla.importers.weights.KeyLayout;
import org.mha2mla.importers.weights.TensorSource;

/**
 * The checkpoint's tensors against what config.json describes, from the headers alone, reported as transformers
 * reports them when loading: tensors the architecture does not use ("Some weights of the model checkpoint were not
 * used": e.g. layers past {@code num_hidden_layers}), and decoder tensors that are missing or have another shape
 * ("not initialized from the model checkpoint" / "size mismatch"). The decoder is checked tensor by tensor
 * (embeddings, every layer's norms, MLP and the q/o projections, k/v for unconverted models, final norm, lm_head);
 * the vision towers by their layer count.
 *
 * @param unused    keys (as stored) beyond the configured layers, or of no known component
 * @param missing   canonical keys the decoder needs that the checkpoint lacks
 * @param misshaped "key: [stored] where config.json implies [expected]"
 */
public record WeightsAudit(List<String> unused, List<String> missing, List<String> misshaped) {

    private static final Pattern DECODER_LAYER = Pattern.compile("^(?:language_model\\.)?model\\.layers\\.(\\d+)\\.");

    public WeightsAudit {
        unused = List.copyOf(unused);
        missing = List.copyOf(missing);
        misshaped = List.copyOf(misshaped);
    }

    public boolean clean() {
        return unused.isEmpty() && missing.isEmpty() && misshaped.isEmpty();
    }

    /** Audits {@code weights} (either key layout) against {@code config} ({@code conversion} null for an original model). */
    public static WeightsAudit of(TensorSource weights, VlmConfig config, Mha2MlaConfig conversion) {
        TextConfig t = config.textConfig();
        String type = config.modelType();
        FamilySpec family = FamilySpecs.of(config);
        Map<String, String> stored = new LinkedHashMap<>();      // canonical → stored key
        List<String> unused = new ArrayList<>();
        for (String key : weights.names()) {
            String canonical = KeyLayout.toCanonical(key, type);
            if (canonical == null) {
                unused.add(key);
                continue;
            }
            stored.put(canonical, key);
            if (layerBeyond(DECODER_LAYER, canonical, t.numHiddenLayers())
                    || layerBeyond(family.visionLayerKey(), canonical, family.visionLayers(config))) {
                unused.add(key);
            }
        }
        List<String> missing = new ArrayList<>();
        List<String> misshaped = new ArrayList<>();
        expectedDecoder(config, conversion).forEach((name, shape) -> {
            String key = stored.get(name);
            if (key == null) {
                missing.add(name);
            } else if (!Arrays.equals(weights.info(key).shape(), shape)) {
                misshaped.add(key + ": " + Arrays.toString(weights.info(key).shape()) + " where config.json implies " + Arrays.toString(shape));
            }
        });
        return new WeightsAudit(unused, missing, misshaped);
    }

    /** One line per kind of finding, naming the file, a count and the first keys; empty when clean. */
    public List<String> warnings(String where, VlmConfig config) {
        List<String> out = new ArrayList<>();
        if (!unused.isEmpty()) {
            out.add(where + ": " + unused.size() + " tensors are not used by config.json (" + layers(config) + "), as transformers' "
                    + "\"Some weights of the model checkpoint were not used\": " + examples(unused));
        }
        if (!missing.isEmpty()) out.add(where + ": " + missing.size() + " decoder tensors are missing: " + examples(missing));
        if (!misshaped.isEmpty()) out.add(where + ": " + misshaped.size() + " tensors have another shape: " + examples(misshaped));
        return out;
    }

    private static String layers(VlmConfig c) {
        return c.textConfig().numHiddenLayers() + " decoder layers, " + FamilySpecs.of(c).visionLayers(c) + " vision layers";
    }

    private static String examples(List<String> keys) {
        List<String> shown = keys.size() <= 3 ? keys : keys.subList(0, 3);
        return String.join(", ", shown) + (keys.size() > 3 ? ", …" : "");
    }

    private static boolean layerBeyond(Pattern p, String key, int layers) {
        Matcher m = p.matcher(key);
        return m.find() && (m.group(1).length() > 9 || Integer.parseInt(m.group(1)) >= layers);
    }

    /** Canonical key → shape of every decoder tensor config.json implies (transformers' LlamaModel / Qwen2 decoder). */
    static Map<String, long[]> expectedDecoder(VlmConfig config, Mha2MlaConfig conversion) {
        TextConfig t = config.textConfig();
        String prefix = FamilySpecs.of(config).decoderPrefix();
        long d = t.hiddenSize();
        long q = (long) t.numAttentionHeads() * t.headDim();
        long kv = (long) t.numKeyValueHeads() * t.headDim();
        long inter = t.intermediateSize();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put(prefix + "embed_tokens.weight", new long[] {t.vocabSize(), d});
        for (int i = 0; i < t.numHiddenLayers(); i++) {
            String l = prefix + "layers." + i + ".";
            m.put(l + "input_layernorm.weight", new long[] {d});
            m.put(l + "post_attention_layernorm.weight", new long[] {d});
            m.put(l + "self_attn.q_proj.weight", new long[] {q, d});
            m.put(l + "self_attn.o_proj.weight", new long[] {d, q});
            if (t.attentionBias()) m.put(l + "self_attn.q_proj.bias", new long[] {q});
            if (conversion == null) {   // a converted model stores its own key/value factors
                m.put(l + "self_attn.k_proj.weight", new long[] {kv, d});
                m.put(l + "self_attn.v_proj.weight", new long[] {kv, d});
                if (t.attentionBias()) {
                    m.put(l + "self_attn.k_proj.bias", new long[] {kv});
                    m.put(l + "self_attn.v_proj.bias", new long[] {kv});
                }
            }
            m.put(l + "mlp.gate_proj.weight", new long[] {inter, d});
            m.put(l + "mlp.up_proj.weight", new long[] {inter, d});
            m.put(l + "mlp.down_proj.weight", new long[] {d, inter});
        }
        m.put(prefix + "norm.weight", new long[] {d});
        // lm_head sits beside the decoder's "model." (language_model.lm_head.weight, lm_head.weight).
        if (!t.tieWordEmbeddings()) m.put(prefix.substring(0, prefix.length() - "model.".length()) + "lm_head.weight", new long[] {t.vocabSize(), d});
        return m;
    }
}
