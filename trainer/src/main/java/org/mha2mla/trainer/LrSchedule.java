package org.mha2mla.trainer;

/**
 * Warmup–stable–decay learning rate: linear warmup from 0 to {@code peakLr}, constant, then a decay over the last
 * {@code decaySteps} to {@code minLr} — the shape of MHA2MLA's fine-tuning runs (warmup 10%, decay over the last
 * 10%), with the decay curve selectable.
 *
 * <p>{@code step} is the 0-based index of the optimizer update. Warmup uses {@code (step + 1) / warmup} so the
 * first update already moves (HF's {@code step / warmup} spends update 0 at LR 0) and the last warmup update runs
 * at the peak; the decay progress {@code p = (step − decayStart + 1) / (decaySteps + 1)} reaches 1 one update after
 * the last, so every requested update runs at an LR above {@code minLr} (with the default {@code minLr} 0 a schedule
 * whose final update ran at exactly {@code minLr} wasted that update: {@code --steps 2} trained once). The schedule
 * is a pure function of the step, so resuming needs only the step and these fields.
 */
public record LrSchedule(double peakLr, double minLr, long totalSteps, long warmupSteps, long decaySteps, Decay decay) {

    /** The decay curve f(p), p ∈ (0, 1], giving {@code lr = minLr + (peakLr − minLr) · f(p)}; f(1) = 0. */
    public enum Decay {
        /** f = 1 − p. */
        LINEAR,
        /** f = (1 + cos(πp)) / 2. */
        COSINE,
        /** f = 1 − √p (the WSD schedule's "1−sqrt" cooldown). */
        ONE_MINUS_SQRT;

        double factor(double p) {
            return switch (this) {
                case LINEAR -> 1 - p;
                case COSINE -> 0.5 * (1 + Math.cos(Math.PI * p));
                case ONE_MINUS_SQRT -> 1 - Math.sqrt(p);
            };
        }
    }

    /** The paper's defaults: warmup over the first 10% of the steps, decay over the last 10%. */
    public static final double PAPER_WARMUP_FRACTION = 0.10;
    public static final double PAPER_DECAY_FRACTION = 0.10;

    public LrSchedule {
        if (totalSteps <= 0) throw new IllegalArgumentException("totalSteps must be > 0, got " + totalSteps);
        if (warmupSteps < 0 || decaySteps < 0 || warmupSteps + decaySteps > totalSteps) {
            throw new IllegalArgumentException("warmup (" + warmupSteps + ") + decay (" + decaySteps
                    + ") steps must be non-negative and fit in the " + totalSteps + " total steps");
        }
        if (!(peakLr >= 0) || !(minLr >= 0) || minLr > peakLr) {
            throw new IllegalArgumentException("need 0 <= minLr <= peakLr, got minLr " + minLr + ", peakLr " + peakLr);
        }
        if (decay == null) throw new IllegalArgumentException("decay curve missing");
    }

    /**
     * Warmup and decay as fractions of {@code totalSteps} (rounded, each at least one step when non-zero; in a run too
     * short for both, warmup first: one update is all warmup, at the peak).
     */
    public static LrSchedule of(double peakLr, double minLr, long totalSteps, double warmupFraction, double decayFraction,
                                Decay decay) {
        long warmup = Math.min(totalSteps, steps(totalSteps, warmupFraction));
        long decaySteps = Math.min(totalSteps - warmup, steps(totalSteps, decayFraction));
        return new LrSchedule(peakLr, minLr, totalSteps, warmup, decaySteps, decay);
    }

    /** The paper's shape: 10% warmup, 10% decay. */
    public static LrSchedule paper(double peakLr, double minLr, long totalSteps, Decay decay) {
        return of(peakLr, minLr, totalSteps, PAPER_WARMUP_FRACTION, PAPER_DECAY_FRACTION, decay);
    }

    private static long steps(long total, double fraction) {
        if (fraction < 0 || fraction > 1) throw new IllegalArgumentException("fraction must be in [0, 1], got " + fraction);
        return fraction == 0 ? 0 : Math.max(1, Math.round(total * fraction));
    }

    /** First step of the decay phase. */
    public long decayStart() {
        return totalSteps - decaySteps;
    }

    /** The learning rate of update {@code step} (0-based); steps past the end approach and then stay at {@code minLr}. */
    public double lr(long step) {
        if (step < 0) throw new IllegalArgumentException("step must be >= 0, got " + step);
        if (step < warmupSteps) {
            return peakLr * (step + 1) / warmupSteps;
        }
        if (step < decayStart()) {
            return peakLr;
        }
        double p = Math.min(1.0, (double) (step - decayStart() + 1) / (decaySteps + 1));
        return minLr + (peakLr - minLr) * decay.factor(p);
    }
}
