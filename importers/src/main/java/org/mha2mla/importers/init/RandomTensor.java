package org.mha2mla.importers.init;

import java.nio.ByteBuffer;

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
        if (tensor.init() instanceof WeightPlan.Constant c) {
            for (int i = 0; i < count; i++) put(out, dtype, c.value());
            return;
        }
        WeightPlan.Normal n = (WeightPlan.Normal) tensor.init();
        NormalStream stream = NormalStream.forChunk(seed, tensor.name(), index);
        // Elements of the zero row (an Embedding's padding_idx) still draw their value, so the rest of the stream
        // does not depend on which row is zeroed.
        long zeroFrom = Long.MAX_VALUE, zeroTo = Long.MIN_VALUE;
        if (n.zeroRow() >= 0) {
            long[] shape = tensor.shape();
            zeroFrom = n.zeroRow() * shape[1];
            zeroTo = zeroFrom + shape[1];
        }
        switch (dtype) {
            case BF16 -> {
                for (int i = 0; i < count; i++) {
                    float v = (float) (n.std() * stream.nextGaussian());
                    long at = start + i;
                    out.putShort(HalfFloats.floatToBf16(at >= zeroFrom && at < zeroTo ? 0f : v));
                }
            }
            case F16 -> {
                for (int i = 0; i < count; i++) {
                    float v = (float) (n.std() * stream.nextGaussian());
                    long at = start + i;
                    out.putShort(HalfFloats.floatToHalf(at >= zeroFrom && at < zeroTo ? 0f : v));
                }
            }
            case F32 -> {
                for (int i = 0; i < count; i++) {
                    float v = (float) (n.std() * stream.nextGaussian());
                    long at = start + i;
                    out.putFloat(at >= zeroFrom && at < zeroTo ? 0f : v);
                }
            }
            default -> throw new IllegalArgumentException("random tensors are stored as BF16, F16 or F32, not " + dtype);
        }
    }

    private static void put(ByteBuffer out, DType dtype, float v) {
        switch (dtype) {
            case BF16 -> out.putShort(HalfFloats.floatToBf16(v));
            case F16 -> out.putShort(HalfFloats.floatToHalf(v));
            case F32 -> out.putFloat(v);
            default -> throw new IllegalArgumentException("random tensors are stored as BF16, F16 or F32, not " + dtype);
        }
    }
}
