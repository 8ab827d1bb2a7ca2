package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LmmsMetricsTest {
    /** Classic distances (kitten/sitting = 3, flaw/lawn = 2) and a supplementary code point counted once. */
    @Test
    void levenshteinDistance() {
        assertEquals(3, LmmsMetrics.levenshteinDistance("kitten", "sitting"));
        assertEquals(2, LmmsMetrics.levenshteinDistance("flaw", "lawn"));
        assertEquals(0, LmmsMetrics.levenshteinDistance("", ""));
        assertEquals(4, LmmsMetrics.levenshteinDistance("", "abcd"));
        assertEquals(1, LmmsMetrics.levenshteinDistance("a\uD835\uDC01b", "ab"));
    }

    /** ANLS by hand: dist("march 3 1998", "march 3, 1998") = 1 over max raw length 13. */
    @Test
    void anlsByHand() {
        assertEquals(1 - 1.0 / 13, LmmsMetrics.anls(List.of("March 3, 1998", "3/3/1998"), "march 3 1998", 0.5).doubleValue(), 1e-15);
        // Best reference wins; lengths are raw (before whitespace collapsing): "3/3/98" vs "3/3/1998": 2/8.
        assertEquals(0.75, LmmsMetrics.anls(List.of("March 3, 1998", "3/3/1998"), "3/3/98", 0.5).doubleValue(), 1e-15);
        assertTrue(LmmsMetrics.anls(List.of("$1,250.00"), "1250", 0.5).isInt());
    }

    @Test
    void exactMatchOptions() {
        assertEquals(1.0, LmmsMetrics.exactMatch("UMBRELLA!", "umbrella", true, true));
        assertEquals(0.0, LmmsMetrics.exactMatch("UMBRELLA!", "umbrella", false, true));
        assertEquals(0.0, LmmsMetrics.exactMatch("umbrella!", "umbrella", true, false));
        assertEquals(0.0, LmmsMetrics.exactMatch(" umbrella", "umbrella", true, true));
        assertEquals(1.0, LmmsMetrics.exactMatch("umbrella\0\0", "umbrella", false, false));
    }

    @Test
    void meanSkipsExamplesWithoutTheMetric() {
        ObjectNode a = Fixtures.JSON.createObjectNode().put("m", 1.0);
        ObjectNode b = Fixtures.JSON.createObjectNode().put("m", 0);
        ObjectNode c = Fixtures.JSON.createObjectNode().put("other", 1.0);
        assertEquals(0.5, LmmsMetrics.mean(List.of(a, b, c), "m").doubleValue(), 0.0);
        assertNull(LmmsMetrics.mean(List.of(c), "m"));
        ObjectNode agg = Fixtures.JSON.createObjectNode();
        LmmsMetrics.putMean(agg, List.of(c), "m");
        assertTrue(agg.isEmpty());
    }
}
