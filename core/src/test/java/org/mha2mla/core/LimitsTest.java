package org.mha2mla.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LimitsTest {

    private static String refusal(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    /** The ~49k-token calibration sample whose T² mask overflowed an int ("mha2mla: -1850239772"). */
    @Test
    void attentionMaskLargerThanAJavaArrayIsRefusedBeforeItOverflows() {
        String m = refusal(() -> Limits.requireAttentionMask("calibration sample 's'", 1, 49_000, 49_000));
        assertTrue(m.startsWith("calibration sample 's': an attention mask of 1 × 49000 × 49000 = 2,401,000,000 entries"), m);
        Limits.requireAttentionMask("x", 1, 46_340, 46_340);                 // 2,147,395,600 ≤ 2^31 − 9
        refusal(() -> Limits.requireAttentionMask("x", 1, 46_341, 46_341));
        refusal(() -> Limits.requireAttentionMask("x", 2, 40_000, 40_000));
        refusal(() -> Limits.requireAttentionMask("x", Long.MAX_VALUE, 2, 2));  // saturates, does not wrap
    }

    @Test
    void sequenceAndGenerationStayWithinTheModelsPositions() {
        Limits.requireSequence("prompt", 4096, 4096);
        assertEquals("prompt has 4097 tokens, more than the model's max_position_embeddings (4096)",
                refusal(() -> Limits.requireSequence("prompt", 4097, 4096)));
        Limits.requireGeneration("--max-new-tokens", 23, 4073, 4096);
        assertEquals("--max-new-tokens 2000000000: the prompt (23 tokens) plus the new tokens exceed the model's "
                + "max_position_embeddings (4096)", refusal(() -> Limits.requireGeneration("--max-new-tokens", 23, 2_000_000_000, 4096)));
        assertEquals("--max-new-tokens must be at least 1, got 0", refusal(() -> Limits.requireGeneration("--max-new-tokens", 23, 0, 4096)));
    }

    @Test
    void attentionMemoryBeyondThePhysicalMemoryIsRefused() {
        long physical = Limits.physicalMemoryBytes();
        assertTrue(physical > 0, "the JVM reports the machine's memory");
        // train --max-length 100000 on 8 heads: 8 × 10^10 × 8 bytes = 640 GB.
        String m = refusal(() -> Limits.requireAttentionMemory("--max-length 100000", 1, 8, 100_000));
        assertTrue(m.contains("(1 × 8 heads × 100000² float32) need 640.0 GB"), m);
        Limits.requireAttentionMemory("--max-length 2048", 1, 28, 2048);        // 0.94 GB
    }

    @Test
    void optionsMustBeFiniteAndInRange() {
        assertEquals("--lr must be a finite number greater than 0, got Infinity", refusal(() -> Limits.requirePositive("--lr", Double.POSITIVE_INFINITY)));
        assertEquals("--lr must be a finite number greater than 0, got NaN", refusal(() -> Limits.requirePositive("--lr", Double.NaN)));
        assertEquals("--tol must be a finite number of at least 0, got -1", refusal(() -> Limits.requireFiniteAtLeast("--tol", -1, 0)));
        assertEquals("--tol must be a finite number of at least 0, got NaN", refusal(() -> Limits.requireFiniteAtLeast("--tol", Double.NaN, 0)));
        assertEquals("--warmup must be a finite number in [0, 1], got 1.5", refusal(() -> Limits.requireFinite("--warmup", 1.5, 0, 1)));
        assertEquals("--batch must be at least 1, got 0", refusal(() -> Limits.requireAtLeast("--batch", 0, 1)));
        assertEquals("--x must be between 1 and 3, got 4", refusal(() -> Limits.requireBetween("--x", 4, 1, 3)));
        assertEquals(0.5, Limits.requireFinite("--warmup", 0.5, 0, 1));
        assertEquals(Long.MAX_VALUE, Limits.multiply(1L << 40, 1L << 40));
        assertEquals(6, Limits.multiply(2, 3));
    }
}
