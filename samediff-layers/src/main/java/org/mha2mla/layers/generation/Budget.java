package org.mha2mla.layers.generation;

/**
 * How many tokens a pruned cache may hold per layer: a fraction of the prompt length (H2O's heavy/recent ratios,
 * the paper's Table 2 budgets) or an absolute count.
 *
 * @param fraction of the prompt length, used when {@code count} is 0
 * @param count    absolute number of tokens, or 0
 */
public record Budget(double fraction, int count) implements java.io.Serializable {

    public Budget {
        if (count < 0) throw new IllegalArgumentException("cache budget must be ≥ 1 token, got " + count);
        if (count == 0 && !(fraction > 0 && Double.isFinite(fraction))) {
            throw new IllegalArgumentException("cache budget fraction must be > 0, got " + fraction);
        }
    }

    public static Budget fraction(double fraction) {
        return new Budget(fraction, 0);
    }

    public static Budget tokens(int count) {
        if (count < 1) throw new IllegalArgumentException("cache budget must be ≥ 1 token, got " + count);
        return new Budget(0, count);
    }

    /**
     * Parses a command-line budget: a number with a decimal point or below 1 is a fraction of the prompt
     * ({@code 0.5}, {@code 1.0}); an integer ≥ 1 is a token count ({@code 64}).
     */
    public static Budget parse(String text) {
        String s = text.strip();
        try {
            if (s.matches("[0-9]+")) {
                long n = Long.parseLong(s);
                if (n >= 1) return tokens((int) Math.min(n, Integer.MAX_VALUE));
            }
            return fraction(Double.parseDouble(s));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("cache budget '" + text + "' is neither a fraction (0.5) nor a token count (64)");
        }
    }

    /** Tokens per layer for a prompt of {@code promptLength} tokens: {@code int(fraction · L)} as H2O computes it, at least 1. */
    public int size(int promptLength) {
        if (count > 0) return count;
        return (int) Math.max(1, Math.floor(fraction * promptLength));
    }

    public String label() {
        return count > 0 ? Integer.toString(count) : Double.toString(fraction);
    }
}
