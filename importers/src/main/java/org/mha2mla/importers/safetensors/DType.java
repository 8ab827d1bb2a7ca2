package org.mha2mla.importers.safetensors;

import java.util.Arrays;

/** The safetensors dtype names (as in the header's "dtype" field) with their element size in bytes. */
public enum DType {
    F64(8, true), F32(4, true), F16(2, true), BF16(2, true),
    I64(8, false), I32(4, false), I16(2, false), I8(1, false), U8(1, false), BOOL(1, false);

    private final int size;
    private final boolean floating;

    DType(int size, boolean floating) {
        this.size = size;
        this.floating = floating;
    }

    /** Bytes per element. */
    public int size() {
        return size;
    }

    public boolean isFloating() {
        return floating;
    }

    /** The dtype with this header name, or null when the name is not one of {@link #values()}. */
    public static DType fromHeader(String name) {
        for (DType d : values()) if (d.name().equals(name)) return d;
        return null;
    }

    static String known() {
        return Arrays.toString(values());
    }
}
