package org.mha2mla.layers.generation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class BudgetTest {

    @Test
    void fractionsOfThePromptRoundDownLikeH2o() {
        assertEquals(23, Budget.fraction(0.5).size(47));   // int(0.5 · 47)
        assertEquals(47, Budget.fraction(1.0).size(47));
        assertEquals(1, Budget.fraction(0.01).size(47));   // never below one token
        assertEquals(64, Budget.tokens(64).size(47));
    }

    @Test
    void parsesFractionsAndCounts() {
        assertEquals(Budget.fraction(0.5), Budget.parse("0.5"));
        assertEquals(Budget.fraction(1.0), Budget.parse("1.0"));
        assertEquals(Budget.tokens(64), Budget.parse("64"));
        assertEquals(Budget.tokens(1), Budget.parse("1"));
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("half"));
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("0"));
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("-0.5"));
    }
}
