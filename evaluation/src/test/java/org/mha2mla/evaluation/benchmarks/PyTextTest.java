package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Against python_str_cases.json, written by CPython (make_pytext_cases.py). */
class PyTextTest {
    private static final JsonNode CASES = Fixtures.resource("python_str_cases.json").get("cases");

    @Test
    void stripSplitLowerUpperLenAsCPython() {
        for (JsonNode c : CASES) {
            String s = c.get("input").asText();
            String what = "input " + escape(s);
            assertEquals(c.get("strip").asText(), PyText.strip(s), what + " strip");
            List<String> split = new ArrayList<>();
            c.get("split").forEach(p -> split.add(p.asText()));
            assertEquals(split, PyText.split(s), what + " split");
            assertEquals(c.get("lower").asText(), PyText.lower(s), what + " lower");
            assertEquals(c.get("upper").asText(), PyText.upper(s), what + " upper");
            assertEquals(c.get("len").intValue(), PyText.len(s), what + " len");
            assertEquals(c.get("upper_len").intValue(), PyText.len(PyText.upper(s)), what + " len(upper)");
            assertEquals(c.get("rstrip_percent").asText(), PyText.rstrip(s, "%"), what + " rstrip('%')");
            assertEquals(c.get("delete_punctuation").asText(), PyText.deletePunctuation(s), what + " translate");
        }
    }

    @Test
    void floatAndIntAsCPython() {
        for (JsonNode c : CASES) {
            String s = c.get("input").asText();
            String what = "input " + escape(s);
            JsonNode f = c.get("float");
            Double got = PyText.toFloat(s);
            if (f.isNull()) {
                assertNull(got, what + " float() raises");
            } else {
                double want = switch (f.asText()) {
                    case "inf" -> Double.POSITIVE_INFINITY;
                    case "-inf" -> Double.NEGATIVE_INFINITY;
                    case "nan" -> Double.NaN;
                    default -> Double.parseDouble(f.asText());
                };
                // Bitwise: -0.0 vs 0.0 and the last ulp of 2.675 both matter.
                assertEquals(Double.doubleToRawLongBits(want), Double.doubleToRawLongBits(got), what + " float() " + got);
            }
            JsonNode i = c.get("int");
            if (i.isNull()) {
                assertThrows(NumberFormatException.class, () -> PyText.toInt(s), what + " int() raises");
            } else {
                assertEquals(i.longValue(), PyText.toInt(s), what + " int()");
            }
        }
        assertTrue(CASES.size() > 40);
    }

    @Test
    void strOfJsonValues() {
        assertEquals("None", PyText.str(Fixtures.JSON.nullNode()));
        assertEquals("True", PyText.str(Fixtures.JSON.getNodeFactory().booleanNode(true)));
        assertEquals("17", PyText.str(Fixtures.JSON.getNodeFactory().numberNode(17L)));
        assertEquals("x y", PyText.str(Fixtures.JSON.getNodeFactory().textNode("x y")));
    }

    private static String escape(String s) {
        StringBuilder b = new StringBuilder("'");
        s.codePoints().forEach(cp -> b.append(cp >= 32 && cp < 127 ? String.valueOf((char) cp) : String.format("\\u%04x", cp)));
        return b.append("'").toString();
    }
}
