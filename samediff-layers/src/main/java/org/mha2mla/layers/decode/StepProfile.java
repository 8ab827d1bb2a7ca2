package org.mha2mla.layers.decode;

import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;

/** Wall time of a decode step's phases, summed over the steps and layers it was passed to. */
public final class StepProfile {

    /** The phases of a step, in the order they run. */
    public enum Phase {
        NORMS("RMSNorms and residual adds"),
        QKV_PROJ("q/k/v (MLA: q, k_rope, kv_down) projections"),
        ROPE_AND_CACHE_WRITE("RoPE, absorbed query (MLA), cache write"),
        ATTENTION("attention over the cache"),
        O_PROJ("value up-projection (MLA) and o_proj"),
        MLP_GATE_UP("MLP gate/up projections"),
        MLP_ACT("MLP SiLU·up"),
        MLP_DOWN("MLP down projection"),
        LM_HEAD("final norm and lm_head");

        final String description;

        Phase(String description) {
            this.description = description;
        }
    }

    private final Map<Phase, Long> nanos = new EnumMap<>(Phase.class);
    private long last;

    /** Starts timing the next phase. */
    void start() {
        last = System.nanoTime();
    }

    /** Ends the current phase, adding its time to {@code phase}, and starts the next. */
    void lap(Phase phase) {
        long now = System.nanoTime();
        nanos.merge(phase, now - last, Long::sum);
        last = now;
    }

    /** Milliseconds spent in {@code phase}. */
    public double millis(Phase phase) {
        return nanos.getOrDefault(phase, 0L) / 1e6;
    }

    public void clear() {
        nanos.clear();
    }

    /** One line per phase: milliseconds per step over {@code steps} steps and its share of the total. */
    public String table(int steps) {
        long total = nanos.values().stream().mapToLong(Long::longValue).sum();
        StringBuilder sb = new StringBuilder();
        for (Phase p : Phase.values()) {
            long n = nanos.getOrDefault(p, 0L);
            if (n == 0) continue;
            sb.append(String.format(Locale.ROOT, "  %-48s %9.2f ms/step %6.1f%%%n", p.description, n / 1e6 / steps, 100.0 * n / total));
        }
        return sb.toString();
    }
}
