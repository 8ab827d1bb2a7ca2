package org.mha2mla.importers.init;

import java.nio.ByteBuffer;
import java.util.Arrays;

import org.mha2mla.importers.safetensors.ChunkedTensor;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.HalfFloats;

/**
 * The bytes of one planned tensor, drawn chunk by chunk as the writer asks for them. Chunk i of tensor {@code name} is
 * {@link #CHUNK_ELEMENTS} values from {@link NormalStream#forChunk}(seed, name, i), scaled by the std and rounded once
 * from float32 to the storage dtype (as torch rounds a float32 model saved in bf16/f16). The values are therefore a
 * function of (seed, name, element index) only: the same on any number of threads and whatever other tensors the
 * checkpoint holds.
 */
final class RandomTensor implements ChunkedTensor {

    /** 2^20 values per chunk; part of the definition of the values (a different chunking draws different ones). */
    static final int CHUNK_ELEMENTS = 1 << 20;

    /** Per-thread scratch: the encoder threads of the writer each fill their own. */
    private static final ThreadLocal<float[]> FLOATS = ThreadLocal.withInitial(() -> new float[CHUNK_ELEMENTS]);
    private static final ThreadLocal<short[]> SHORTS = ThreadLocal.withInitial(() -> new short[CHUNK_ELEMENTS]);

    private final long seed;
    private final WeightPlan.Tensor tensor;

    RandomTensor(long seed, WeightPlan.Tensor tensor) {
        this.seed = seed;
        this.tensor = tensor;
    }

    @Override
    public int chunkElements() {
        return CHUNK_ELEMENTS;
    }

    @Override
    public void encodeChunk(long index, long start, int count, DType dtype, ByteBuffer out) {
        float[] v = FLOATS.get();
        if (tensor.init() instanceof WeightPlan.Constant c) {
            Arrays.fill(v, 0, count, c.value());
        } else {
            WeightPlan.Normal n = (WeightPlan.Normal) tensor.init();
            NormalStream stream = NormalStream.forChunk(seed, tensor.name(), index);
            for (int i = 0; i < count; i++) v[i] = (float) (n.std() * stream.nextGaussian());
            if (n.zeroRow() >= 0) {
                // The padding row's elements drew their values too, so the stream does not depend on which row it is.
                long width = tensor.shape()[1];
                long from = Math.max(start, n.zeroRow() * width), to = Math.min(start + count, (n.zeroRow() + 1) * width);
                if (from < to) Arrays.fill(v, (int) (from - start), (int) (to - start), 0f);
            }
        }
        encode(v, count, dtype, out);
    }

    /** Rounds to the storage dtype into a scratch array, then one bulk copy into the (little-endian) buffer. */
    private static void encode(float[] v, int count, DType dtype, ByteBuffer out) {
        switch (dtype) {
            case BF16, F16 -> {
                short[] bits = SHORTS.get();
                if (dtype == DType.BF16) {
                    for (int i = 0; i < count; i++) bits[i] = HalfFloats.floatToBf16(v[i]);
                } else {
                    for (int i = 0; i < count; i++) bits[i] = HalfFloats.floatToHalf(v[i]);
                }
                out.asShortBuffer().put(bits, 0, count);
                out.position(out.position() + 2 * count);
            }
            case F32 -> {
                out.asFloatBuffer().put(v, 0, count);
                out.position(out.position() + 4 * count);
            }
            default -> throw new IllegalArgumentException("random tensors are stored as BF16, F16 or F32, not " + dtype);
        }
    }
}
