package org.mha2mla.core.partialrope;

/** How the r = d_r/2 kept RoPE frequency pairs of every (layer, KV head) are chosen. */
public enum RopeStrategy {
    /** The first r pairs (highest frequencies), the same for every head. */
    HIGH,
    /** The last r pairs (lowest frequencies), the same for every head. */
    LOW,
    /** r pairs evenly spaced from pair 0 with stride (d_h/2)/r, as MHA2MLA's "uniform". */
    UNIFORM,
    /** Per head, the r pairs with the largest mean ‖q_pair‖ · mean ‖k_pair‖ (MHA2MLA's head-wise 2-norm). */
    TWO_NORM,
    /** Per head, the r pairs whose removal changes the attention distribution most (KL, multimodal calibration). */
    MKL;

    /** Parses the CLI spelling: high, low, uniform, 2norm (or 2-norm, two_norm), mkl. */
    public static RopeStrategy parse(String name) {
        String n = name.trim().toLowerCase(java.util.Locale.ROOT).replace('-', '_');
        return switch (n) {
            case "high" -> HIGH;
            case "low" -> LOW;
            case "uniform" -> UNIFORM;
            case "2norm", "2_norm", "two_norm" -> TWO_NORM;
            case "mkl" -> MKL;
            default -> throw new IllegalArgumentException("unknown partial-RoPE strategy '" + name
                    + "' (expected high, low, uniform, 2norm or mkl)");
        };
    }

    /** The spelling {@link #parse} reads and converted configs store: high, low, uniform, 2norm, mkl. */
    public String id() {
        return this == TWO_NORM ? "2norm" : name().toLowerCase(java.util.Locale.ROOT);
    }

    /** True when the strategy needs calibration scores. */
    public boolean needsScores() {
        return this == TWO_NORM || this == MKL;
    }
}
