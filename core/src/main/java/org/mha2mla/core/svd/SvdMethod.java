package org.mha2mla.core.svd;

import java.util.Locale;

/**
 * How [W_k,nope; W_v] is factorised into the latent down/up projections. One vocabulary, the papers' and the
 * authors' code's:
 * <table>
 *   <caption>SVD variants</caption>
 *   <tr><th>id</th><th>what</th><th>objective</th><th>factor pairs</th></tr>
 *   <tr><td>{@code md}</td><td>MD-SVD (MHA2MLA-VLM Alg. 1, the authors' {@code run_svd_init.py})</td>
 *       <td>‖W X_m − W'_m X_m‖ per modality</td><td>one per modality</td></tr>
 *   <tr><td>{@code svd-llm}</td><td>activation-aware SVD over all tokens (SVD-LLM's objective; MD-SVD without the
 *       modality split)</td><td>‖W X − W' X‖</td><td>one</td></tr>
 *   <tr><td>{@code svd-joint}</td><td>plain SVD of the concatenated weight (MHA2MLA's SVD_joint, the authors'
 *       {@code svd_init_method: joint})</td><td>‖W − W'‖</td><td>one</td></tr>
 * </table>
 */
public enum SvdMethod {
    /** Modality-decoupled activation-aware SVD (MHA2MLA-VLM Alg. 1): one factor pair per modality. */
    MD,
    /** Activation-aware SVD over all calibration tokens together: one factor pair shared by both modalities. */
    SVD_LLM,
    /** Plain truncated SVD of the weight (min ‖W − W'‖_F), activations ignored: one shared factor pair. */
    SVD_JOINT;

    /** Parses the CLI spelling: md, svd-llm, svd-joint. The project's former names are refused with the new one. */
    public static SvdMethod parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        return switch (n) {
            case "md", "md-svd" -> MD;
            case "svd-llm" -> SVD_LLM;
            case "svd-joint" -> SVD_JOINT;
            case "joint" -> throw new IllegalArgumentException("SVD method 'joint' is ambiguous and no longer accepted: the activation-aware SVD "
                    + "over all tokens (this project's former 'joint') is now 'svd-llm'; the plain weight SVD (the MHA2MLA-VLM authors' "
                    + "svd_init_method: joint) is 'svd-joint'");
            case "weight" -> throw new IllegalArgumentException("SVD method 'weight' was renamed: the plain weight SVD is now 'svd-joint' "
                    + "(MHA2MLA's SVD_joint, the authors' svd_init_method: joint)");
            default -> throw new IllegalArgumentException("unknown SVD method '" + name + "' (expected md, svd-llm or svd-joint)");
        };
    }

    /**
     * Reads the {@code svd} field of a converted folder's config.json: the ids of {@link #parse}, and the ids folders
     * written before the rename carry ({@code joint} = svd-llm, {@code weight} = svd-joint), whose meaning is fixed.
     */
    public static SvdMethod fromConfig(String id) {
        return switch (id.trim().toLowerCase(Locale.ROOT)) {
            case "joint" -> SVD_LLM;
            case "weight" -> SVD_JOINT;
            default -> parse(id);
        };
    }

    /** The spelling {@link #parse} reads and the config stores. */
    public String id() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The name the papers print: MD-SVD, SVD-LLM, SVD_joint. */
    public String label() {
        return switch (this) {
            case MD -> "MD-SVD";
            case SVD_LLM -> "SVD-LLM";
            case SVD_JOINT -> "SVD_joint";
        };
    }

    /** True when every modality gets its own factors (and the cache stores each token's modality). */
    public boolean decoupled() {
        return this == MD;
    }
}
