package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DocTest {
    @Test
    void missingFieldIsKeyErrorNullIsNone() {
        ObjectNode f = Fixtures.JSON.createObjectNode().put("question", "q").putNull("hint");
        f.putArray("answers").add("a").add(3);
        Doc d = Doc.of(f);
        assertEquals("None", d.text("hint"));
        assertEquals(List.of("a", "3"), d.texts("answers"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> d.text("answer"));
        assertTrue(e.getMessage().contains("'answer'") && e.getMessage().contains("question"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> d.texts("question"));
        assertThrows(IllegalArgumentException.class, () -> Doc.of(Fixtures.JSON.createArrayNode()));
    }

    @Test
    void imagesAreCopiedIntoAnImmutableList() {
        List<byte[]> images = new java.util.ArrayList<>(List.of(new byte[]{1}));
        Doc d = new Doc(Fixtures.JSON.createObjectNode(), images);
        images.clear();
        assertEquals(1, d.images().size());
        assertThrows(UnsupportedOperationException.class, () -> d.images().add(new byte[0]));
    }
}
