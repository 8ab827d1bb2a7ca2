package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LrScheduleTest {

    private static final double PEAK = 1e-3;
    private static final double MIN = 1e-5;

    @Test
    void paperDefaultsWarmTenPercentAndDecayTheLastTenPercent() {
        LrSchedule s = LrSchedule.paper(PEAK, MIN, 100, LrSchedule.Decay.LINEAR);
        assertEquals(10, s.warmupSteps());
        assertEquals(10, s.decaySteps());
        assertEquals(90, s.decayStart());
        // warmup: peak · (step + 1) / 10
        assertEquals(1e-4, s.lr(0), 1e-15);
        assertEquals(5e-4, s.lr(4), 1e-15);
        assertEquals(PEAK, s.lr(9), 1e-15);
        // stable
        assertEquals(PEAK, s.lr(10), 0);
        assertEquals(PEAK, s.lr(89), 0);
        // linear decay: min + (peak − min)(1 − p), p = (step − 89) / 11, which reaches 1 one update after the last
        assertEquals(MIN + (PEAK - MIN) * 10 / 11, s.lr(90), 1e-15);
        assertEquals(MIN + (PEAK - MIN) * 6 / 11, s.lr(94), 1e-15);
        assertEquals(MIN + (PEAK - MIN) / 11, s.lr(99), 1e-15);
        assertEquals(MIN, s.lr(100), 1e-15);
        assertEquals(MIN, s.lr(150), 1e-15);
    }

    @Test
    void cosineAndOneMinusSqrtDecayCurves() {
        LrSchedule cos = LrSchedule.paper(PEAK, MIN, 100, LrSchedule.Decay.COSINE);
        assertEquals(MIN + (PEAK - MIN) * 0.5 * (1 + Math.cos(Math.PI * 5 / 11)), cos.lr(94), 1e-15);
        assertEquals(MIN + (PEAK - MIN) * 0.5 * (1 + Math.cos(Math.PI * 3 / 11)), cos.lr(92), 1e-15);
        assertEquals(MIN + (PEAK - MIN) * 0.5 * (1 + Math.cos(Math.PI * 10 / 11)), cos.lr(99), 1e-15);
        LrSchedule sqrt = LrSchedule.paper(PEAK, MIN, 100, LrSchedule.Decay.ONE_MINUS_SQRT);
        assertEquals(MIN + (PEAK - MIN) * (1 - Math.sqrt(4.0 / 11)), sqrt.lr(93), 1e-15);
        assertEquals(MIN + (PEAK - MIN) * (1 - Math.sqrt(0.2)), new LrSchedule(PEAK, MIN, 8, 0, 4, LrSchedule.Decay.ONE_MINUS_SQRT).lr(4), 1e-15);
    }

    @Test
    void monotoneThroughEachPhase() {
        for (LrSchedule.Decay d : LrSchedule.Decay.values()) {
            LrSchedule s = LrSchedule.of(3e-4, 0, 1000, 0.05, 0.2, d);
            for (long i = 1; i < 1000; i++) {
                if (i < s.warmupSteps()) assertTrue(s.lr(i) > s.lr(i - 1));
                else if (i < s.decayStart()) assertEquals(3e-4, s.lr(i), 0);
                else assertTrue(s.lr(i) < s.lr(i - 1), d + " step " + i);
            }
            assertTrue(s.lr(999) > 0, d + ": the last update has LR " + s.lr(999));
            assertEquals(0, s.lr(1000), 1e-18);
        }
    }

    /** With minLr 0, every update of every run length gets some LR: {@code --steps 2} trains twice, not once. */
    @Test
    void everyRequestedUpdateHasANonZeroLr() {
        for (LrSchedule.Decay d : LrSchedule.Decay.values()) {
            for (long total = 1; total <= 60; total++) {
                LrSchedule s = LrSchedule.paper(PEAK, 0, total, d);
                for (long i = 0; i < total; i++) assertTrue(s.lr(i) > 0, d + ", " + total + " updates: update " + i + " has LR 0");
            }
        }
        LrSchedule two = LrSchedule.paper(PEAK, 0, 2, LrSchedule.Decay.COSINE);     // one warmup update, one decay update
        assertEquals(PEAK, two.lr(0), 0);
        assertEquals(PEAK * 0.5 * (1 + Math.cos(Math.PI / 2)), two.lr(1), 1e-18);
    }

    @Test
    void noWarmupNoDecayIsConstant() {
        LrSchedule s = new LrSchedule(2e-4, 0, 10, 0, 0, LrSchedule.Decay.LINEAR);
        for (int i = 0; i < 10; i++) assertEquals(2e-4, s.lr(i), 0);
    }

    @Test
    void rejectsPhasesLongerThanTheRun() {
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1e-3, 0, 10, 6, 5, LrSchedule.Decay.LINEAR));
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1e-3, 2e-3, 10, 1, 1, LrSchedule.Decay.LINEAR));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.paper(1e-3, 0, 0, LrSchedule.Decay.LINEAR));
    }
}
