package org.mha2mla.importers.safetensors;

import java.util.Arrays;

/**
 * One header entry: dtype, shape and the byte range [begin, end) relative to the start of the data section
 * (right after the 8-byte length and the JSON header), exactly as "data_offsets" in the file.
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Product of the shape (1 for a scalar, 0 when a dimension is 0). */
    public long numel() {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
    }

    public int rank() {
        return shape.length;
    }

    public long byteLength() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
