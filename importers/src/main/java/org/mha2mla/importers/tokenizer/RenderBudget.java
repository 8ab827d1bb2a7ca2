package org.mha2mla.importers.tokenizer;

import java.util.ArrayList;
import java.util.List;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.interpret.errorcategory.BasicTemplateErrorCategory;

/**
 * The bounds of one chat-template rendering. A chat template is code that comes with a downloaded model folder; a
 * hostile or broken one ({@code {% for a in range(1000) %}{% for b in range(1000) %}…}) must end in one clear line,
 * not hang the process. Real templates stay far inside every bound (the fixtures' templates render a conversation of
 * 2,000 messages in under 40,000 nodes).
 *
 * <ul>
 *   <li>the first error: Jinja2 raises at once where Jinjava records the error and renders on (a loop raising at every
 *       iteration would run to its end), so rendering stops at the first fatal error;</li>
 *   <li>{@link #MAX_NODES} template nodes (text, expressions, tags) rendered, loop bodies counted per iteration;</li>
 *   <li>{@code range()} as in Jinja2's sandbox: at most {@link #MAX_RANGE} items per call (more raises, where
 *       Jinjava would silently cut the list), {@link #MAX_RANGE_TOTAL} over the rendering;</li>
 *   <li>{@link #MAX_OUTPUT_CHARS} characters of output or of any string built (Jinjava's own limits);</li>
 *   <li>{@link #MAX_SECONDS} of wall time, checked at every node (for work between nodes, e.g. empty loops).</li>
 * </ul>
 * The budget of the rendering in progress lives in a thread-local: every rendering thread has its own.
 */
final class RenderBudget {

    static final long MAX_NODES = 100_000;
    /** {@code jinja2.sandbox.MAX_RANGE}. */
    static final int MAX_RANGE = 100_000;
    static final long MAX_RANGE_TOTAL = 200_000;
    /** A prompt of 4 M characters is ~1 M tokens, far past any supported model's context. */
    static final long MAX_OUTPUT_CHARS = 4_000_000;
    static final int MAX_COLLECTION_SIZE = 1_000_000;
    static final int MAX_MACRO_DEPTH = 100;
    static final double MAX_SECONDS = 10;

    private static final ThreadLocal<RenderBudget> CURRENT = new ThreadLocal<>();
    private static final ThreadLocal<Long> LAST_NODES = ThreadLocal.withInitial(() -> 0L);
    /** Used when no rendering is in progress on this thread (Jinjava called directly): no bounds. */
    private static final RenderBudget NONE = new RenderBudget(Long.MAX_VALUE);

    private final long deadline;
    private long nodes;
    private long rangeItems;
    private String exceeded;
    private TemplateError firstError;

    private RenderBudget(long deadline) {
        this.deadline = deadline;
    }

    /** Starts the budget of a rendering on this thread. */
    static RenderBudget start() {
        RenderBudget b = new RenderBudget(System.nanoTime() + (long) (MAX_SECONDS * 1e9));
        CURRENT.set(b);
        return b;
    }

    static void end() {
        RenderBudget b = CURRENT.get();
        if (b != null) LAST_NODES.set(b.nodes);
        CURRENT.remove();
    }

    /** Nodes the last rendering on this thread rendered (for tests of the bounds' margin). */
    static long nodesOfLastRendering() {
        return LAST_NODES.get();
    }

    static RenderBudget current() {
        RenderBudget b = CURRENT.get();
        return b == null ? NONE : b;
    }

    /** The first error that stopped the rendering, or null (the caller reports it; later errors follow from it). */
    TemplateError firstError() {
        return firstError;
    }

    /** Why the rendering was stopped, or null. */
    String exceeded() {
        return exceeded;
    }

    /** Counts one rendered node; throws once any bound is passed or an error was recorded (and at every later node). */
    void node(JinjavaInterpreter interpreter) {
        if (this == NONE) return;
        if (firstError == null) firstError = interpreter.getLastError().filter(RenderBudget::fatal).orElse(null);
        if (firstError != null) throw new TokenizerException("rendering stopped at the first error");
        if (exceeded == null && ++nodes > MAX_NODES) {
            exceeded = "the template rendered more than " + MAX_NODES + " nodes (a loop too large for a chat prompt)";
        }
        if (exceeded == null && System.nanoTime() > deadline) {
            exceeded = "the template ran longer than " + (long) MAX_SECONDS + " s";
        }
        if (exceeded != null) throw new TokenizerException(exceeded);
    }

    /** An error Jinja2 would raise: Jinjava's fatal ones, and the macro recursion bound it only warns about. */
    static boolean fatal(TemplateError e) {
        return e.getSeverity() == TemplateError.ErrorType.FATAL || e.getCategory() == BasicTemplateErrorCategory.CYCLE_DETECTED;
    }

    private void rangeOf(long items) {
        if (this == NONE) return;
        rangeItems += items;
        if (exceeded == null && rangeItems > MAX_RANGE_TOTAL) {
            exceeded = "the template's range() calls produced more than " + MAX_RANGE_TOTAL + " items";
        }
        if (exceeded != null) throw new TokenizerException(exceeded);
    }

    /**
     * Jinja2's {@code range(stop)} / {@code range(start, stop[, step])} with the sandbox's {@code safe_range} bound
     * ("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).").
     */
    public static List<Integer> range(Object first, Object... rest) {
        if (rest.length > 2) throw new TokenizerException("range() takes at most 3 arguments, got " + (1 + rest.length));
        long start = 0;
        long stop;
        long step = 1;
        if (rest.length == 0) {
            stop = integer(first);
        } else {
            start = integer(first);
            stop = integer(rest[0]);
            if (rest.length == 2) step = integer(rest[1]);
        }
        if (step == 0) throw new TokenizerException("range() arg 3 must not be zero");
        long length = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                : (start > stop ? (start - stop - step - 1) / -step : 0);
        if (length > MAX_RANGE) {
            throw new TokenizerException("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + MAX_RANGE + ").");
        }
        current().rangeOf(length);
        List<Integer> out = new ArrayList<>((int) length);
        for (long i = 0, v = start; i < length; i++, v += step) out.add((int) v);
        return out;
    }

    private static long integer(Object o) {
        if (o instanceof Long || o instanceof Integer || o instanceof Short || o instanceof Byte) {
            long v = ((Number) o).longValue();
            if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                throw new TokenizerException("range() argument " + v + " is out of range");
            }
            return v;
        }
        throw new TokenizerException("range() arguments must be integers, got " + (o == null ? "an undefined value" : "'" + o + "'"));
    }
}
