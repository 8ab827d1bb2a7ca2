package org.mha2mla.importers.processor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class PlaceholdersTest {

    @Test
    void eachOccurrenceGetsItsOwnCount() {
        assertEquals("a<i><i>b<i>c", Placeholders.expand("a<i>b<i>c", "<i>", new int[]{2, 1}));
        assertEquals("plain", Placeholders.expand("plain", "<i>", new int[0]));
        assertEquals(2, Placeholders.count("<i><i>", "<i>"));
        assertThrows(IllegalArgumentException.class, () -> Placeholders.expand("a<i>", "<i>", new int[]{1, 1}));
    }
}
