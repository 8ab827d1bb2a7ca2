package org.mha2mla.core.svd;

import java.util.Locale;

/** How [W_k,nope; W_v] is factorised into the latent down/up projections. */
public enum SvdMethod {
    /** Modality-decoupled activation-aware SVD (MHA2MLA-VLM Alg. 1): one factor pair per modality. */
    MD,
    /** Activation-aware SVD over all calibration tokens together: one factor pair shared by both modalities. */
    JOINT,
    /** Plain truncated SVD of the weight (min ‖W − W'‖_F), activations ignored: one shared factor pair. */
    WEIGHT;

    /** Parses the CLI / config spelling: md, joint, weight. */
    public static SvdMethod parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "md", "md_svd", "md-svd" -> MD;
            case "joint" -> JOINT;
            case "weight" -> WEIGHT;
            default -> throw new IllegalArgumentException("unknown SVD method '" + name + "' (expected md, joint or weight)");
        };
    }

    /** The spelling {@link #parse} reads and the config stores. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** True when every modality gets its own factors (and the cache stores each token's modality). */
    public boolean decoupled() {
        return this == MD;
    }
}
