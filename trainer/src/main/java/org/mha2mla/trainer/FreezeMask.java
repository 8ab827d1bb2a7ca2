package org.mha2mla.trainer;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Which parameters train, declared by patterns over the canonical (hub) checkpoint keys; everything else is
 * frozen. A pattern is a glob over dot-separated names: {@code *} matches within one name segment,
 * {@code **} across segments, {@code ?} one character, {@code {a,b}} alternatives; a pattern starting with
 * {@code re:} is a Java regular expression over the whole name.
 *
 * <p>The two stages of MHA2MLA-VLM ({@link #stage1}, {@link #stage2}) are declared in this one place. Decoder
 * layers are matched through {@link #DECODER_LAYERS} (LLaVA's {@code language_model.model.layers.N}, Qwen2.5-VL's
 * {@code model.layers.N}, and transformers-5's {@code model.language_model.layers.N}), never a bare
 * {@code **.self_attn.q_proj.*}: the CLIP tower has {@code ...encoder.layers.N.self_attn.q_proj} too, and it stays frozen.
 */
public final class FreezeMask {

    /** The decoder layers of every supported model (hub and transformers-5 key layouts). */
    public static final String DECODER_LAYERS = "{language_model.model,model,model.language_model}.layers.*";

    /** Stage 1 (after partial RoPE): the query and key projections, weights and biases. */
    public static final List<String> STAGE1 = List.of(
            DECODER_LAYERS + ".self_attn.q_proj.*",
            DECODER_LAYERS + ".self_attn.k_proj.*");

    /**
     * Stage 2 (after MD-SVD): the MLA parameters — the query projection, the RoPE key rows, the per-modality
     * down-projection W_dkv[m] and up-projections W_uk[m], W_uv[m], and the up-side biases of k_nope and v.
     * Names as the MLA attention stores them; adjust here if they change. Joint and weight-only SVD store one
     * factor pair without the modality segment ({@code kv_down_proj.weight}).
     */
    public static final List<String> STAGE2 = List.of(
            DECODER_LAYERS + ".self_attn.q_proj.*",
            DECODER_LAYERS + ".self_attn.k_rope_proj.*",
            DECODER_LAYERS + ".self_attn.kv_down_proj.{text,visual}.*",
            DECODER_LAYERS + ".self_attn.k_up_proj.{text,visual}.*",
            DECODER_LAYERS + ".self_attn.v_up_proj.{text,visual}.*",
            DECODER_LAYERS + ".self_attn.{kv_down_proj,k_up_proj,v_up_proj}.weight",
            DECODER_LAYERS + ".self_attn.{k_nope_bias,v_bias}**");

    private final String name;
    private final List<String> patterns;
    private final List<Pattern> compiled;

    private FreezeMask(String name, List<String> patterns) {
        if (patterns.isEmpty()) throw new IllegalArgumentException("freeze mask '" + name + "' has no pattern");
        this.name = name;
        this.patterns = List.copyOf(patterns);
        this.compiled = patterns.stream().map(FreezeMask::compile).toList();
    }

    public static FreezeMask stage1() {
        return new FreezeMask("stage1", STAGE1);
    }

    public static FreezeMask stage2() {
        return new FreezeMask("stage2", STAGE2);
    }

    /** Every parameter trains (pretraining from scratch). */
    public static FreezeMask all() {
        return new FreezeMask("all", List.of("**"));
    }

    /** Stage 1 or 2. */
    public static FreezeMask forStage(int stage) {
        return switch (stage) {
            case 1 -> stage1();
            case 2 -> stage2();
            default -> throw new IllegalArgumentException("stage must be 1 or 2, got " + stage);
        };
    }

    /** A custom mask: the parameters matching any of {@code patterns} train. */
    public static FreezeMask of(String name, List<String> patterns) {
        return new FreezeMask(name, patterns);
    }

    public String name() {
        return name;
    }

    public List<String> patterns() {
        return patterns;
    }

    public boolean isTrainable(String parameter) {
        for (Pattern p : compiled) {
            if (p.matcher(parameter).matches()) return true;
        }
        return false;
    }

    /**
     * The trainable names among {@code parameters}, in their order; throws when none matches (a stage-2 mask on a
     * model that was not converted, or a layout the presets do not know).
     */
    public List<String> trainable(Collection<String> parameters) {
        List<String> out = new ArrayList<>();
        for (String p : parameters) if (isTrainable(p)) out.add(p);
        if (out.isEmpty()) {
            throw new IllegalArgumentException("freeze mask '" + name + "' " + patterns + " matches none of the "
                    + parameters.size() + " parameters (e.g. " + parameters.stream().limit(3).toList() + ")");
        }
        return out;
    }

    /** {@code "trainable X / total Y (Z%)"} over parameter sizes (element counts) by name. */
    public String summary(Map<String, Long> sizes) {
        long trainable = 0;
        long total = 0;
        for (Map.Entry<String, Long> e : sizes.entrySet()) {
            total += e.getValue();
            if (isTrainable(e.getKey())) trainable += e.getValue();
        }
        return String.format(Locale.ROOT, "trainable %,d / total %,d (%.2f%%)", trainable, total,
                total == 0 ? 0.0 : 100.0 * trainable / total);
    }

    /** The glob (or {@code re:} regex) as a regex over the whole name. */
    static Pattern compile(String glob) {
        if (glob.startsWith("re:")) return Pattern.compile(glob.substring(3));
        StringBuilder re = new StringBuilder();
        int depth = 0;
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            if (c == '*') {
                if (i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
                    re.append(".*");
                    i++;
                } else {
                    re.append("[^.]*");
                }
            } else if (c == '?') {
                re.append("[^.]");
            } else if (c == '{') {
                re.append("(?:");
                depth++;
            } else if (c == '}' && depth > 0) {
                re.append(')');
                depth--;
            } else if (c == ',' && depth > 0) {
                re.append('|');
            } else {
                re.append(Pattern.quote(String.valueOf(c)));
            }
        }
        if (depth != 0) throw new IllegalArgumentException("unbalanced '{' in freeze pattern '" + glob + "'");
        return Pattern.compile(re.toString());
    }

    @Override
    public String toString() {
        return name + " " + patterns;
    }
}
