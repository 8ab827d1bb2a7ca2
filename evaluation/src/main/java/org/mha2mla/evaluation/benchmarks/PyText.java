package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The few Python 3 {@code str} semantics lmms-eval's scorers depend on, reproduced exactly.
 *
 * <p>Java's {@code String.strip()}, {@code \s}, {@code \w} and {@code Double.parseDouble} differ from
 * Python's {@code str.strip()}, {@code re}'s {@code \s}/{@code \w} and {@code float()} at the edges
 * (U+0085, U+00A0 and U+202F are whitespace to Python, not to {@code String.strip()}; {@code float("1_000")}
 * is valid, {@code float("1d")} is not), and a score flips on such edges. Lengths are counted in code points as
 * Python counts them, not in UTF-16 units.
 */
public final class PyText {
    /** Body of a regex character class with exactly Python's whitespace ({@code Py_UNICODE_ISSPACE}). */
    public static final String SPACE_CLASS =
            "\\t\\n\\x0B\\f\\r\\x1C-\\x20\\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";
    /** Body of a regex character class with Python's {@code \w} for str patterns: alphanumerics and '_'. */
    public static final String WORD_CLASS = "\\p{L}\\p{N}_";
    /** Python's {@code string.punctuation}. */
    public static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    private static final Pattern FLOAT = Pattern.compile(
            "[+-]?(?:(?:(?:D)?\\.D|D\\.?)(?:[eE][+-]?D)?|(?i:inf|infinity|nan))"
                    .replace("D", "[0-9](?:_?[0-9])*"));
    private static final Pattern INT = Pattern.compile("[+-]?[0-9](?:_?[0-9])*");

    private PyText() {
    }

    /** {@code ch.isspace()} for one code point. */
    public static boolean isSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0
                || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029
                || cp == 0x202F || cp == 0x205F || cp == 0x3000;
    }

    /** {@code s.strip()}. */
    public static String strip(String s) {
        int start = 0;
        int end = s.length();
        while (start < end && isSpace(s.codePointAt(start))) {
            start += Character.charCount(s.codePointAt(start));
        }
        while (end > start && isSpace(s.codePointBefore(end))) {
            end -= Character.charCount(s.codePointBefore(end));
        }
        return s.substring(start, end);
    }

    /** {@code s.rstrip(chars)}: removes trailing characters that occur in {@code chars}. */
    public static String rstrip(String s, String chars) {
        int end = s.length();
        while (end > 0 && chars.indexOf(s.codePointBefore(end)) >= 0) {
            end -= Character.charCount(s.codePointBefore(end));
        }
        return s.substring(0, end);
    }

    /** {@code s.split()} with no separator: runs of whitespace split, no empty parts. */
    public static List<String> split(String s) {
        List<String> parts = new ArrayList<>();
        int i = 0;
        int n = s.length();
        while (i < n) {
            while (i < n && isSpace(s.codePointAt(i))) {
                i += Character.charCount(s.codePointAt(i));
            }
            int start = i;
            while (i < n && !isSpace(s.codePointAt(i))) {
                i += Character.charCount(s.codePointAt(i));
            }
            if (i > start) {
                parts.add(s.substring(start, i));
            }
        }
        return parts;
    }

    /** {@code s.lower()} (full Unicode case mapping, locale independent, as Python's). */
    public static String lower(String s) {
        return s.toLowerCase(Locale.ROOT);
    }

    /** {@code s.upper()}; may change the length ("ß" becomes "SS"), which ANLS relies on. */
    public static String upper(String s) {
        return s.toUpperCase(Locale.ROOT);
    }

    /** {@code len(s)}: code points. */
    public static int len(String s) {
        return s.codePointCount(0, s.length());
    }

    /** {@code s.translate(str.maketrans("", "", string.punctuation))}. */
    public static String deletePunctuation(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (PUNCTUATION.indexOf(c) < 0) {
                out.append(c);
            }
        }
        return out.toString();
    }

    /**
     * {@code float(s)}, or null where Python raises ValueError. Accepts what Python accepts: surrounding
     * whitespace, a sign, underscores between digits, any Unicode decimal digit, inf/infinity/nan.
     */
    public static Double toFloat(String s) {
        String t = asciiDigits(strip(s));
        if (t == null || !FLOAT.matcher(t).matches()) {
            return null;
        }
        String body = t.replace("_", "");
        String unsigned = body.replaceFirst("^[+-]", "");
        boolean negative = body.startsWith("-");
        String word = unsigned.toLowerCase(Locale.ROOT);
        if (word.equals("inf") || word.equals("infinity")) {
            return negative ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        }
        if (word.equals("nan")) {
            return Double.NaN;
        }
        // The grammar check above leaves only forms on which Java's correctly rounded parser agrees
        // with CPython ("1.", ".5", "1e400" -> inf); Java-only forms ("1d", "0x1p3") never get here.
        double v = Double.parseDouble(unsigned);
        return negative ? -v : v;
    }

    /** {@code int(s)} for a base-10 string; throws NumberFormatException where Python raises ValueError. */
    public static long toInt(String s) {
        String t = asciiDigits(strip(s));
        if (t == null || !INT.matcher(t).matches()) {
            throw new NumberFormatException("invalid literal for int() with base 10: '" + s + "'");
        }
        return Long.parseLong(t.replace("_", ""));
    }

    /** Python's {@code str(value)} for the JSON values a dataset row holds. */
    public static String str(JsonNode value) {
        if (value == null || value.isNull() || value.isMissingNode()) {
            return "None";
        }
        if (value.isBoolean()) {
            return value.booleanValue() ? "True" : "False";
        }
        return value.asText();
    }

    /** Python accepts every Unicode Nd digit in int()/float(); map them to ASCII, or null if unmappable. */
    private static String asciiDigits(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp < 128) {
                out.append((char) cp);
            } else if (Character.getType(cp) == Character.DECIMAL_DIGIT_NUMBER) {
                out.append((char) ('0' + Character.digit(cp, 10)));
            } else {
                return null;
            }
        }
        return out.toString();
    }
}
