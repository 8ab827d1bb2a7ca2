package org.mha2mla.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;

class PretrainingBudgetTest {

    @Test
    void fitsTheUpdatesToTheTimeLeftInMultiplesOf25() {
        // 842 s left after 20 updates at 1.35 s each, 240 updates' worth of work afterwards: 20 + 623.7 − 240 = 403.7 → 400.
        assertEquals(400, PretrainingBudget.fit(500, 25, 20, 1.35, 842, 240));
        // At 1.1 s/update 545 would fit: the setting's 500 is the most.
        assertEquals(500, PretrainingBudget.fit(500, 25, 20, 1.1, 842, 240));
        // No time left: one granule after the decision, or twice the warmup if that is longer.
        assertEquals(45, PretrainingBudget.fit(500, 6, 20, 1.0, 10, 240));
        assertEquals(50, PretrainingBudget.fit(500, 25, 20, 1.0, -5, 240));
        // Decided at update 40, then re-measured every 50.
        assertEquals(List.of(40L, 90L, 140L), IntStream.range(0, 160).mapToObj(i -> (long) i).filter(PretrainingBudget::decides).toList());
    }

    /** A deadline already passed: after the 40 timed updates the run plans 40 + 25 = 65 of 80, and keeps it until update 90. */
    @Test
    void aPassedDeadlinePlansOneGranuleMoreAtTheFirstDecision() {
        PretrainingBudget budget = new PretrainingBudget(System.nanoTime(), 0, 80, 8);
        double[] seconds = new double[40];
        Arrays.fill(seconds, 0, 20, 5.0);                  // slow first updates (JIT, set-up) fall outside the window
        for (int i = 20; i < 40; i++) seconds[i] = 0.5 + 0.01 * (i % 3);
        for (long done = 0; done < 40; done++) assertEquals(80, budget.total(done, 80, Arrays.copyOf(seconds, (int) done)));
        assertTrue(Double.isNaN(budget.secondsPerUpdate()), "nothing measured before the first decision");
        assertEquals(65, budget.total(40, 80, seconds));
        assertEquals(0.51, budget.secondsPerUpdate(), 1e-12, "the upper median of the last 20 updates");
        assertEquals(65, budget.total(41, 65, Arrays.copyOf(seconds, 41)));
    }
}
