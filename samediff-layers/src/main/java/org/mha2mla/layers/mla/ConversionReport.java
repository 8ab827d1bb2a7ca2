package org.mha2mla.layers.mla;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.core.config.Mha2MlaConfig;

/**
 * What a conversion did, per decoder layer: the kept pairs, the attention KL of the partial-RoPE selection, and the
 * truncation losses ‖WX − W'X‖²_F over the calibration tokens of split (MD-SVD) and joint factors and their ratio
 * (paper Fig. 4; Theorem 2.1 says split ≤ joint), next to ‖WX‖²_F for scale. Written as {@code conversion_report.json}.
 *
 * @param samples                      calibration samples used
 * @param originalCacheBytesPerToken   KV cache of the input model, all layers, float32
 * @param convertedCacheBytesPerToken  cache of the converted model, all layers, float32 (MLA: latent + k_rope + modality tag)
 */
public record ConversionReport(Mha2MlaConfig conversion, int samples, long textTokens, long visualTokens, List<Layer> layers,
                               long originalCacheBytesPerToken, long convertedCacheBytesPerToken) {

    /**
     * One layer. Losses are NaN where they were not computed (a partial-RoPE step, or split factors without visual
     * tokens); the KL is NaN when the selection was not chosen by this conversion.
     *
     * @param attentionKl  mean over calibration samples and query heads of KL(full RoPE ‖ partial RoPE)
     * @param splitLoss    Σ_m ‖W X_m − W_up[m] W_down[m] X_m‖² (MD-SVD)
     * @param jointLoss    ‖W X − W_up W_down X‖² with one factor pair from all tokens (joint activation-aware SVD)
     * @param chosenLoss   the loss of the factors the converted model uses (equal to split or joint, or weight-only SVD's)
     * @param kvEnergy     ‖W X‖²: the losses relative to it are the fraction of K_nope/V energy lost
     */
    public record Layer(int layer, int[][] keptPairs, double attentionKl, double splitLoss, double jointLoss, double chosenLoss,
                        double kvEnergy) {

        /** split / joint (≤ 1 by Theorem 2.1). */
        public double ratio() {
            return splitLoss / jointLoss;
        }
    }

    public ConversionReport {
        layers = List.copyOf(layers);
    }

    /** The per-layer table the CLI prints. */
    public String table() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "%-5s %12s %13s %13s %9s %13s  %s%n", "layer", "attn KL", "split loss", "joint loss",
                "split/jnt", "chosen (rel)", "kept pairs per KV head"));
        for (Layer l : layers) {
            b.append(String.format(Locale.ROOT, "%-5d %12s %13s %13s %9s %13s  %s%n", l.layer(), num(l.attentionKl()), num(l.splitLoss()),
                    num(l.jointLoss()), Double.isNaN(l.ratio()) ? "-" : String.format(Locale.ROOT, "%.4f", l.ratio()),
                    num(l.chosenLoss() / l.kvEnergy()), pairs(l.keptPairs())));
        }
        b.append(String.format(Locale.ROOT, "%s; %d calibration samples (%d text, %d visual tokens); KV cache %,d -> %,d bytes/token (float32, all layers)%n",
                conversion, samples, textTokens, visualTokens, originalCacheBytesPerToken, convertedCacheBytesPerToken));
        return b.toString();
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.4e", v);
    }

    private static String pairs(int[][] p) {
        StringBuilder b = new StringBuilder();
        for (int[] head : p) b.append(b.length() == 0 ? "" : " ").append(java.util.Arrays.toString(head).replace(" ", ""));
        return b.toString();
    }

    /** The report as JSON (NaN figures as null). */
    public String toJson() {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        root.put("step", conversion.step().id());
        root.put("strategy", conversion.strategy().id());
        root.put("d_r", conversion.ropeDim());
        if (conversion.isMla()) {
            root.put("d_kv", conversion.dKv());
            root.put("svd", conversion.svd().id());
        }
        root.put("decoupled", conversion.decoupled());
        root.put("calibration_samples", samples);
        root.put("text_tokens", textTokens);
        root.put("visual_tokens", visualTokens);
        root.put("original_cache_bytes_per_token", originalCacheBytesPerToken);
        root.put("converted_cache_bytes_per_token", convertedCacheBytesPerToken);
        ArrayNode arr = root.putArray("layers");
        for (Layer l : layers) {
            ObjectNode n = arr.addObject();
            n.put("layer", l.layer());
            put(n, "attention_kl", l.attentionKl());
            put(n, "split_loss", l.splitLoss());
            put(n, "joint_loss", l.jointLoss());
            put(n, "split_over_joint", l.ratio());
            put(n, "chosen_loss", l.chosenLoss());
            put(n, "kv_energy", l.kvEnergy());
            ArrayNode heads = n.putArray("kept_pairs");
            for (int[] head : l.keptPairs()) {
                ArrayNode h = heads.addArray();
                for (int k : head) h.add(k);
            }
        }
        try {
            return om.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void put(ObjectNode n, String field, double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) n.putNull(field);
        else n.put(field, v);
    }

    /** Writes {@link #toJson} to {@code file}. */
    public void write(Path file) {
        try {
            Files.writeString(file, toJson());
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot write the conversion report (" + e.getMessage() + ")", e);
        }
    }
}
