package org.mha2mla.core.config;

import java.util.Arrays;
import java.util.Locale;

import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.SvdMethod;

/**
 * The {@code "mha2mla"} section of a converted model's config.json: how the model was converted and what its
 * attention therefore is. {@link Step#ROPE} models are partial-RoPE GQA models (full K/V cache, RoPE on the kept
 * pairs only); {@link Step#SVD} and {@link Step#ALL} models are MLA models (latent cache).
 *
 * @param step       which conversion produced the folder
 * @param strategy   how the kept RoPE pairs were chosen
 * @param ropeDim    d_r = 2r rotated dims per KV head
 * @param dKv        latent dims per KV head (the latent has n_kv · d_kv values); 0 for a partial-RoPE model
 * @param svd        factorisation of [W_k,nope; W_v]; null for a partial-RoPE model
 * @param keptPairs  kept pair indices [layer][kvHead][r], ascending (pair k = dims {k, k + d_h/2})
 */
public record Mha2MlaConfig(Step step, RopeStrategy strategy, int ropeDim, int dKv, SvdMethod svd, int[][][] keptPairs) {

    /** The conversion step: {@code rope} (partial RoPE only), {@code svd} (a partial-RoPE model factorised), {@code all}. */
    public enum Step {
        ROPE, SVD, ALL;

        public static Step parse(String name) {
            return switch (name.trim().toLowerCase(Locale.ROOT)) {
                case "rope" -> ROPE;
                case "svd" -> SVD;
                case "all" -> ALL;
                default -> throw new IllegalArgumentException("unknown conversion step '" + name + "' (expected rope, svd or all)");
            };
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** True when the step ends in an MLA model (factorised K/V). */
        public boolean producesMla() {
            return this != ROPE;
        }
    }

    public Mha2MlaConfig {
        TextConfig.require(step != null && strategy != null, "mha2mla: step and strategy are required");
        TextConfig.require(keptPairs != null && keptPairs.length > 0, "mha2mla: kept_pairs must list at least one layer");
        int r = keptPairs[0].length == 0 ? 0 : keptPairs[0][0].length;
        TextConfig.require(ropeDim == 2 * r, "mha2mla: d_r = " + ropeDim + " but kept_pairs keep " + r + " pairs per head (d_r = 2r)");
        if (step.producesMla()) {
            TextConfig.require(dKv > 0, "mha2mla: an MLA model (step " + step.id() + ") needs d_kv > 0, got " + dKv);
            TextConfig.require(svd != null, "mha2mla: an MLA model (step " + step.id() + ") needs an svd method");
        } else {
            TextConfig.require(dKv == 0 && svd == null, "mha2mla: a partial-RoPE model (step rope) has no d_kv/svd, got d_kv "
                    + dKv + ", svd " + svd);
        }
        keptPairs = copy(keptPairs);
    }

    /** A partial-RoPE conversion (step rope) of the given selection. */
    public static Mha2MlaConfig partialRope(RopeStrategy strategy, RopeSelection selection) {
        return new Mha2MlaConfig(Step.ROPE, strategy, selection.ropeDim(), 0, null, selection.toArray());
    }

    /** The same conversion continued into MLA (step svd after rope, or all). */
    public Mha2MlaConfig withMla(Step mlaStep, int dKv, SvdMethod svd) {
        return new Mha2MlaConfig(mlaStep, strategy, ropeDim, dKv, svd, keptPairs);
    }

    /** True for MLA models, false for partial-RoPE models. */
    public boolean isMla() {
        return step.producesMla();
    }

    /** Per-modality factors (MD-SVD): the cache records each token's modality. */
    public boolean decoupled() {
        return svd != null && svd.decoupled();
    }

    /** The kept pairs as a selection over heads of dimension d_h. */
    public RopeSelection selection(int headDim) {
        return new RopeSelection(headDim, keptPairs);
    }

    /** Kept pairs [layer][kvHead][r] (a copy). */
    @Override
    public int[][][] keptPairs() {
        return copy(keptPairs);
    }

    /** Checks the section against the decoder it converts: layer count, KV heads, pair range. */
    public void requireMatches(TextConfig text) {
        TextConfig.require(keptPairs.length == text.numHiddenLayers(), "mha2mla.kept_pairs lists " + keptPairs.length
                + " layers but the model has num_hidden_layers = " + text.numHiddenLayers());
        for (int l = 0; l < keptPairs.length; l++) {
            TextConfig.require(keptPairs[l].length == text.numKeyValueHeads(), "mha2mla.kept_pairs[" + l + "] lists "
                    + keptPairs[l].length + " KV heads but the model has num_key_value_heads = " + text.numKeyValueHeads());
        }
        TextConfig.require(ropeDim <= text.headDim(), "mha2mla.d_r = " + ropeDim + " exceeds head_dim " + text.headDim());
        selection(text.headDim()); // pair range and duplicates
        if (isMla()) {
            // rank n_kv·d_kv ≤ rows of [W_k,nope; W_v] = n_kv·(2·d_h − d_r)
            TextConfig.require(dKv <= 2 * text.headDim() - ropeDim, "mha2mla.d_kv = " + dKv + " exceeds 2·d_h − d_r = "
                    + (2 * text.headDim() - ropeDim) + " (the rank of [W_k,nope; W_v] per KV head)");
        }
    }

    private static int[][][] copy(int[][][] p) {
        int[][][] c = new int[p.length][][];
        for (int l = 0; l < p.length; l++) {
            c[l] = new int[p[l].length][];
            for (int h = 0; h < p[l].length; h++) c[l][h] = p[l][h].clone();
        }
        return c;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Mha2MlaConfig c && c.step == step && c.strategy == strategy && c.ropeDim == ropeDim
                && c.dKv == dKv && c.svd == svd && Arrays.deepEquals(c.keptPairs, keptPairs);
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(keptPairs) * 31 + java.util.Objects.hash(step, strategy, ropeDim, dKv, svd);
    }

    @Override
    public String toString() {
        return "Mha2MlaConfig[step=" + step.id() + ", strategy=" + strategy.id() + ", d_r=" + ropeDim + ", d_kv=" + dKv
                + ", svd=" + (svd == null ? "-" : svd.id()) + ", layers=" + keptPairs.length + "]";
    }
}
