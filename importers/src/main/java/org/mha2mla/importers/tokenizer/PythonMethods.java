package org.mha2mla.importers.tokenizer;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's str and dict methods that chat templates call ({@code message['role'].upper()}, {@code .strip()},
 * {@code .startswith(...)}, {@code .split()}, {@code d.get(k, default)}, {@code d.items()}), which Jinja2 has
 * because its values are Python objects and Jinjava lacks because its values are Java objects. Placed before
 * Jinjava's own resolvers; anything it does not know falls through to them.
 */
final class PythonMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (method == null) return null;
        Object[] p = params == null ? new Object[0] : params;
        Object result = base instanceof String s ? string(s, method.toString(), p)
                : base instanceof Map<?, ?> m ? map(m, method.toString(), p) : null;
        if (result != null) context.setPropertyResolved(true);
        return result;
    }

    private static Object string(String s, String method, Object[] p) {
        switch (method) {
            case "upper":
                return s.toUpperCase(Locale.ROOT);
            case "lower":
                return s.toLowerCase(Locale.ROOT);
            case "strip":
                return p.length == 0 ? s.strip() : rstrip(lstrip(s, str(p[0])), str(p[0]));
            case "lstrip":
                return p.length == 0 ? s.stripLeading() : lstrip(s, str(p[0]));
            case "rstrip":
                return p.length == 0 ? s.stripTrailing() : rstrip(s, str(p[0]));
            case "startswith":
                return anyOf(p[0], s::startsWith);
            case "endswith":
                return anyOf(p[0], s::endsWith);
            case "split":
                return split(s, p);
            case "replace":
                if (p.length == 3) return replace(s, str(p[0]), str(p[1]), ((Number) p[2]).intValue());
                return p.length == 2 ? s.replace(str(p[0]), str(p[1])) : null;
            case "title":
                return title(s);
            case "capitalize":
                return s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            case "find":
                return (long) s.indexOf(str(p[0]));
            case "count":
                return (long) count(s, str(p[0]));
            case "join":
                return join(s, p[0]);
            case "splitlines":
                return List.of(s.split("\r\n|\r|\n"));
            default:
                return null;
        }
    }

    private static Object map(Map<?, ?> m, String method, Object[] p) {
        switch (method) {
            case "get":
                if (p.length == 2) {
                    Object v = m.get(p[0]);
                    return v != null ? v : p[1];
                }
                return null;
            case "items":
                List<List<Object>> items = new ArrayList<>();
                for (Map.Entry<?, ?> e : m.entrySet()) items.add(Arrays.asList(e.getKey(), e.getValue()));
                return items;
            case "keys":
                return new ArrayList<>(m.keySet());
            case "values":
                return new ArrayList<>(m.values());
            default:
                return null;
        }
    }

    private static String str(Object o) {
        return String.valueOf(o);
    }

    private static boolean anyOf(Object arg, java.util.function.Predicate<String> test) {
        if (arg instanceof Iterable<?> it) {
            for (Object o : it) if (test.test(str(o))) return true;
            return false;
        }
        return test.test(str(arg));
    }

    private static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length() && chars.indexOf(s.charAt(i)) >= 0) i++;
        return s.substring(i);
    }

    private static String rstrip(String s, String chars) {
        int i = s.length();
        while (i > 0 && chars.indexOf(s.charAt(i - 1)) >= 0) i--;
        return s.substring(0, i);
    }

    /** str.split(): on runs of whitespace without a separator; on every separator (keeping empties) with one. */
    private static List<String> split(String s, Object[] p) {
        int max = p.length > 1 ? ((Number) p[1]).intValue() : -1;
        if (p.length == 0 || p[0] == null) {
            String t = s.strip();
            if (t.isEmpty()) return List.of();
            return List.of(max < 0 ? t.split("\\s+") : t.split("\\s+", max + 1));
        }
        String sep = str(p[0]);
        if (sep.isEmpty()) throw new TokenizerException("split(): empty separator");   // Python's ValueError (it looped here)
        List<String> out = new ArrayList<>();
        int from = 0;
        for (int i = s.indexOf(sep); i >= 0 && (max < 0 || out.size() < max); i = s.indexOf(sep, from)) {
            out.add(s.substring(from, i));
            from = i + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static String replace(String s, String old, String by, int count) {
        StringBuilder b = new StringBuilder();
        int from = 0;
        int n = 0;
        for (int i = s.indexOf(old); i >= 0 && (count < 0 || n < count); i = s.indexOf(old, from)) {
            b.append(s, from, i).append(by);
            from = i + old.length();
            n++;
            if (old.isEmpty()) break;
        }
        return b.append(s.substring(from)).toString();
    }

    private static String title(String s) {
        StringBuilder b = new StringBuilder(s.length());
        boolean prevLetter = false;
        for (char c : s.toCharArray()) {
            b.append(prevLetter ? Character.toLowerCase(c) : Character.toUpperCase(c));
            prevLetter = Character.isLetter(c);
        }
        return b.toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) return s.length() + 1;
        int n = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) n++;
        return n;
    }

    private static String join(String sep, Object items) {
        List<String> parts = new ArrayList<>();
        if (items instanceof Iterable<?> it) for (Object o : it) parts.add(str(o));
        else parts.add(str(items));
        return String.join(sep, parts);
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
