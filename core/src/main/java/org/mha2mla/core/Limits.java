package org.mha2mla.core;

import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * Sizes and numbers checked before work starts, each refusal one line naming the option or input and the bound.
 * A long sequence, a huge generation budget or a non-finite learning rate otherwise surfaces much later as an int
 * overflow ({@code mha2mla: -1850239772} for a ~49k-token T² mask), an {@code OutOfMemoryError}, a native crash or
 * a model of +Inf weights written with exit code 0.
 *
 * <p>The model-size checks ({@link #requireSequence}, {@link #requireAttentionMask}, {@link #requireGeneration},
 * {@link #requireAttentionMemory}) belong before every forward pass of the engine; the option checks at the
 * command line and in the options records.
 */
public final class Limits {

    /** The longest Java array (and ND4J buffer created from one): {@code Integer.MAX_VALUE - 8} as the JDK reserves. */
    public static final long MAX_ARRAY = Integer.MAX_VALUE - 8L;

    private Limits() {
    }

    // ---- model sizes ----

    /**
     * {@code what} ("calibration sample 'x'", "prompt") has {@code tokens} positions: at most the model's
     * {@code max_position_embeddings}, whose RoPE tables and trained positions end there.
     */
    public static void requireSequence(String what, long tokens, int maxPositionEmbeddings) {
        if (tokens > maxPositionEmbeddings) {
            throw new IllegalArgumentException(what + " has " + tokens + " tokens, more than the model's max_position_embeddings ("
                    + maxPositionEmbeddings + ")");
        }
    }

    /**
     * The additive attention mask [batch, 1, queries, keys] is built from one float array: its element count must
     * fit a Java array (T = 46,340 tokens is the largest square one for one sequence).
     */
    public static void requireAttentionMask(String what, long batch, long queries, long keys) {
        long elements = multiply(multiply(batch, queries), keys);
        if (elements > MAX_ARRAY) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "%s: an attention mask of %d × %d × %d = %,d entries is "
                    + "larger than a Java array (%,d); use fewer or shorter sequences", what, batch, queries, keys, elements, MAX_ARRAY));
        }
    }

    /**
     * Greedy generation of up to {@code maxNewTokens} after a prompt of {@code promptTokens}: the positions used must
     * stay within {@code max_position_embeddings} (the KV cache is sized for all of them).
     */
    public static void requireGeneration(String option, long promptTokens, long maxNewTokens, int maxPositionEmbeddings) {
        requireAtLeast(option, maxNewTokens, 1);
        if (promptTokens + maxNewTokens > maxPositionEmbeddings) {
            throw new IllegalArgumentException(option + " " + maxNewTokens + ": the prompt (" + promptTokens + " tokens) plus the new "
                    + "tokens exceed the model's max_position_embeddings (" + maxPositionEmbeddings + ")");
        }
    }

    /**
     * Float32 attention scores of one layer for {@code batch} sequences of {@code tokens} with {@code heads} query
     * heads (the graphs materialise [B, h, T, T] scores and probabilities): refused when that alone exceeds the
     * machine's physical memory, which would end in a native out-of-memory crash.
     */
    public static void requireAttentionMemory(String what, long batch, long heads, long tokens) {
        long bytes = multiply(multiply(multiply(multiply(batch, heads), tokens), tokens), 4 * 2);
        long physical = physicalMemoryBytes();
        if (physical > 0 && bytes > physical) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "%s: the attention scores and probabilities of one layer "
                    + "(%d × %d heads × %d² float32) need %.1f GB, more than this machine's %.1f GB of memory", what, batch, heads, tokens,
                    bytes / 1e9, physical / 1e9));
        }
    }

    /** Physical memory of the machine in bytes, or 0 when the JVM does not say. */
    public static long physicalMemoryBytes() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return 0;
    }

    // ---- options ----

    /** {@code value >= min}, else "--option must be at least min, got value". */
    public static long requireAtLeast(String option, long value, long min) {
        if (value < min) throw new IllegalArgumentException(option + " must be at least " + min + ", got " + value);
        return value;
    }

    /** {@code min <= value <= max}. */
    public static long requireBetween(String option, long value, long min, long max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(option + " must be between " + min + " and " + max + ", got " + value);
        }
        return value;
    }

    /** A finite number in {@code [min, max]} (NaN and ±Infinity refused). */
    public static double requireFinite(String option, double value, double min, double max) {
        if (!Double.isFinite(value) || value < min || value > max) {
            throw new IllegalArgumentException(option + " must be a finite number in [" + plain(min) + ", " + plain(max) + "], got "
                    + plain(value));
        }
        return value;
    }

    /** A finite number at least {@code min} (NaN and ±Infinity refused). */
    public static double requireFiniteAtLeast(String option, double value, double min) {
        if (!Double.isFinite(value) || value < min) {
            throw new IllegalArgumentException(option + " must be a finite number of at least " + plain(min) + ", got " + plain(value));
        }
        return value;
    }

    /** A finite number greater than 0 (learning rates, epsilons). */
    public static double requirePositive(String option, double value) {
        if (!Double.isFinite(value) || value <= 0) {
            throw new IllegalArgumentException(option + " must be a finite number greater than 0, got " + plain(value));
        }
        return value;
    }

    /** {@code a × b} of non-negative sizes, saturating at {@code Long.MAX_VALUE} instead of wrapping. */
    public static long multiply(long a, long b) {
        long hi = Math.multiplyHigh(a, b);
        long lo = a * b;
        return hi != 0 || lo < 0 ? Long.MAX_VALUE : lo;
    }

    private static String plain(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
    }
}
