package org.mha2mla.core.svd;

import java.util.Locale;

/**
 * How a rank-r factorisation W ≈ W_up·W_down shares its singular values between the two factors. The product is
 * the same either way; the scale of each factor is not, and stage-2 fine-tuning (AdamW, whose steps do not scale
 * with the parameters) starts from different points.
 * <ul>
 *   <li>{@link #AUTHORS}, the default: as the MHA2MLA-VLM code does it. Activation-aware SVD (its
 *       {@code run_svd_init.py}) normalises the covariance by the tokens <i>and</i> the calibration samples,
 *       S = XᵀX / (N·n), then W_up = U_d Σ_d^½, W_down = Σ_d^½ V_dᵀ Σ_s^-½ U_sᵀ; so against {@link #BALANCED}
 *       W_up is n^-¼ times and W_down n^¼ times as large (4.76 at their 512 samples). The plain weight SVD (MHA2MLA's
 *       {@code SVD()}, {@code svd_init_method: joint}) puts all of Σ on the up side: W_up = U_r Σ_r, W_down = V_rᵀ.</li>
 *   <li>{@link #BALANCED}: S = XᵀX / N (a per-token covariance, independent of how many samples the tokens came
 *       from) and Σ^½ on each side, for the weight SVD too: W_up = U_r Σ_r^½, W_down = Σ_r^½ V_rᵀ.</li>
 * </ul>
 */
public enum FactorSplit {
    AUTHORS,
    BALANCED;

    /** Parses the CLI spelling: authors, balanced. */
    public static FactorSplit parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "authors" -> AUTHORS;
            case "balanced" -> BALANCED;
            default -> throw new IllegalArgumentException("unknown factor split '" + name + "' (expected authors or balanced)");
        };
    }

    /** The spelling {@link #parse} reads. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }
}
