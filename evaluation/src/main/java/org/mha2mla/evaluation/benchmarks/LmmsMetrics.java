package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;

/** The registered metrics and aggregations of lmms-eval's {@code lmms_eval/api/metrics.py} that the tasks use. */
public final class LmmsMetrics {
    private LmmsMetrics() {
    }

    /**
     * {@code exact_match_hf_evaluate} for one prediction and one reference. numpy's fixed-width unicode
     * arrays drop trailing NULs before anything else happens, so they are dropped here too; there is no
     * whitespace stripping beyond the harness's.
     */
    public static double exactMatch(String prediction, String reference, boolean ignoreCase, boolean ignorePunctuation) {
        String p = dropTrailingNul(prediction);
        String r = dropTrailingNul(reference);
        if (ignoreCase) {
            p = PyText.lower(p);
            r = PyText.lower(r);
        }
        if (ignorePunctuation) {
            p = PyText.deletePunctuation(p);
            r = PyText.deletePunctuation(r);
        }
        return p.equals(r) ? 1.0 : 0.0;
    }

    /**
     * {@code anls} (Qwen-VL's infographicsvqa_eval): per reference, the Levenshtein distance between the
     * lower-cased whitespace-normalised strings over the longer <em>raw</em> length (of the upper-cased
     * strings, as the original computes it); best reference; {@code 1 - min}; below the threshold the
     * Python int 0 is returned, which is why the result is a JSON number node rather than a double.
     */
    public static JsonNode anls(List<String> references, String prediction, double threshold) {
        String det = String.join(" ", PyText.split(PyText.lower(PyText.strip(prediction))));
        double min = Double.POSITIVE_INFINITY;
        for (String answer : references) {
            String gt = String.join(" ", PyText.split(PyText.lower(PyText.strip(answer))));
            int dist = levenshteinDistance(gt, det);
            int length = Math.max(PyText.len(PyText.upper(answer)), PyText.len(PyText.upper(prediction)));
            double value = length == 0 ? 0.0 : (double) dist / (double) length;
            min = Math.min(min, value);
        }
        if (references.isEmpty()) {
            throw new IllegalArgumentException("anls needs at least one reference answer");
        }
        double result = 1 - min;
        return result < threshold ? IntNode.valueOf(0) : DoubleNode.valueOf(result);
    }

    /** {@code levenshtein_distance} over code points. */
    public static int levenshteinDistance(String a, String b) {
        int[] s1 = a.codePoints().toArray();
        int[] s2 = b.codePoints().toArray();
        if (s1.length > s2.length) {
            int[] t = s1;
            s1 = s2;
            s2 = t;
        }
        int[] distances = new int[s1.length + 1];
        for (int i = 0; i <= s1.length; i++) {
            distances[i] = i;
        }
        for (int i2 = 0; i2 < s2.length; i2++) {
            int[] next = new int[s1.length + 1];
            next[0] = i2 + 1;
            for (int i1 = 0; i1 < s1.length; i1++) {
                next[i1 + 1] = s1[i1] == s2[i2]
                        ? distances[i1]
                        : 1 + Math.min(distances[i1], Math.min(distances[i1 + 1], next[i1]));
            }
            distances = next;
        }
        return distances[s1.length];
    }

    /**
     * The {@code mean} aggregation ({@code sum(arr) / len(arr)}, summed left to right) over the examples that
     * carry {@code metric}; null where none does, as lmms-eval then reports nothing.
     */
    public static DoubleNode mean(List<ObjectNode> results, String metric) {
        List<Double> values = new ArrayList<>();
        for (ObjectNode r : results) {
            JsonNode v = r.get(metric);
            if (v != null) {
                if (!v.isNumber()) {
                    throw new IllegalArgumentException("metric '" + metric + "' must be a number, got " + v);
                }
                values.add(v.doubleValue());
            }
        }
        if (values.isEmpty()) {
            return null;
        }
        double sum = 0;
        for (double v : values) {
            sum += v;
        }
        return DoubleNode.valueOf(sum / values.size());
    }

    /** Puts {@code mean(results, metric)} into {@code aggregate} when any example carries the metric. */
    public static void putMean(ObjectNode aggregate, List<ObjectNode> results, String metric) {
        DoubleNode m = mean(results, metric);
        if (m != null) {
            aggregate.set(metric, m);
        }
    }

    private static String dropTrailingNul(String s) {
        int end = s.length();
        while (end > 0 && s.charAt(end - 1) == '\0') {
            end--;
        }
        return s.substring(0, end);
    }
}
