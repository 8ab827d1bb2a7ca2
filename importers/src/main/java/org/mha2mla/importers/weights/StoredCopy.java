package org.mha2mla.importers.weights;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.safetensors.ChunkedTensor;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.HalfFloats;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.importers.safetensors.TensorInfo;

/**
 * A writer entry that copies a tensor from a source in chunks, read from its stored bytes (mapped) and encoded as the
 * output dtype, so copying a 7B model's 1 GB embedding table never holds it in float32 (2.2 GB). A tensor stored as
 * F32, F16 or BF16 and written as the same dtype comes out bit-identical; converting between them rounds to nearest
 * even as {@link SafeTensorsWriter} does. The mapping is released once every chunk has been encoded.
 */
public final class StoredCopy implements ChunkedTensor {

    private static final int CHUNK_ELEMENTS = 1 << 20;
    /** One chunk of widened values per encoding thread, reused (a fresh 4 MB array per chunk is garbage the heap grows by). */
    private static final ThreadLocal<float[]> VALUES = ThreadLocal.withInitial(() -> new float[CHUNK_ELEMENTS]);

    private final TensorSource source;
    private final String name;
    private final String where;
    private final String whyFinite;
    private final long numel;
    private final AtomicLong remaining;
    private StoredTensor stored;

    private StoredCopy(TensorSource source, String name, long numel, String where, String whyFinite) {
        this.source = source;
        this.name = name;
        this.where = where;
        this.whyFinite = whyFinite;
        this.numel = numel;
        this.remaining = new AtomicLong((numel + CHUNK_ELEMENTS - 1) / CHUNK_ELEMENTS);
    }

    /** The entry that writes {@code source}'s tensor {@code name} as {@code dtype} (a floating dtype). */
    public static SafeTensorsWriter.Entry entry(TensorSource source, String name, DType dtype) {
        return entry(source, name, dtype, null, null);
    }

    /**
     * Like {@link #entry(TensorSource, String, DType)}, refusing a tensor with NaN or infinite values
     * ({@link FiniteWeights}: "{@code where}: weight … ; {@code whyFinite}") when {@code whyFinite} is not null.
     */
    public static SafeTensorsWriter.Entry entry(TensorSource source, String name, DType dtype, String where, String whyFinite) {
        TensorInfo t = source.info(name);
        if (!dtype.isFloating() || !t.dtype().isFloating()) {
            throw new IllegalArgumentException("tensor '" + name + "': only floating tensors are copied in chunks (" + t.dtype() + " as " + dtype + ")");
        }
        long numel = 1;
        for (long s : t.shape()) numel = Math.multiplyExact(numel, s);
        return SafeTensorsWriter.Entry.chunked(name, dtype, t.shape(), new StoredCopy(source, name, numel, where, whyFinite));
    }

    private synchronized StoredTensor open() {
        if (stored == null) stored = source.stored(name);
        return stored;
    }

    @Override
    public int chunkElements() {
        return CHUNK_ELEMENTS;
    }

    @Override
    public void encodeChunk(long index, long start, int count, DType dtype, ByteBuffer out) {
        float[] values = VALUES.get();
        open().elementsInto(start, count, values, 0);
        if (whyFinite != null) {
            for (int i = 0; i < count; i++) {
                if (!Float.isFinite(values[i])) FiniteWeights.require(source, name, where, whyFinite);
            }
        }
        switch (dtype) {
            case F32 -> { for (int i = 0; i < count; i++) out.putFloat(values[i]); }
            case BF16 -> { for (int i = 0; i < count; i++) out.putShort(HalfFloats.floatToBf16(values[i])); }
            case F16 -> { for (int i = 0; i < count; i++) out.putShort(HalfFloats.floatToHalf(values[i])); }
            case F64 -> { for (int i = 0; i < count; i++) out.putDouble(values[i]); }
            default -> throw new IllegalArgumentException("tensor '" + name + "': cannot write as " + dtype);
        }
        if (remaining.decrementAndGet() == 0) {
            synchronized (this) {
                stored.close();
                stored = null;
            }
        }
    }

    @Override
    public String toString() {
        return "copy of " + name + " (" + numel + " values)";
    }
}
