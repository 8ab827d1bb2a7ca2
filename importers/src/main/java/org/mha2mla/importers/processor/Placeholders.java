package org.mha2mla.importers.processor;

/** The processors' string-level expansion of image tokens (done on the text, before tokenization, as transformers does). */
final class Placeholders {
    private Placeholders() {
    }

    static int count(String text, String token) {
        int n = 0;
        for (int i = text.indexOf(token); i >= 0; i = text.indexOf(token, i + token.length())) n++;
        return n;
    }

    /** The i-th occurrence of {@code token} becomes {@code counts[i]} copies of it. */
    static String expand(String text, String token, int[] counts) {
        int found = count(text, token);
        if (found != counts.length) {
            throw new IllegalArgumentException("the prompt has " + found + " image placeholder(s) " + token + " but "
                    + counts.length + " image(s) were given");
        }
        if (counts.length == 0) return text;
        StringBuilder b = new StringBuilder(text.length() + token.length() * sum(counts));
        int from = 0;
        int i = 0;
        for (int at = text.indexOf(token); at >= 0; at = text.indexOf(token, from)) {
            b.append(text, from, at).append(token.repeat(counts[i++]));
            from = at + token.length();
        }
        return b.append(text.substring(from)).toString();
    }

    private static int sum(int[] a) {
        int s = 0;
        for (int v : a) s += v;
        return s;
    }
}
