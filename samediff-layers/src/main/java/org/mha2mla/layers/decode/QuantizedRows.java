package org.mha2mla.layers.decode;

import org.mha2mla.core.kv.KvQuantizer;
import org.mha2mla.core.kv.QuantizedTensor;

/**
 * {@link CacheRows} quantized per group, as transformers' QuantizedCache (quanto/HQQ, the KIVI scheme) holds a KV
 * cache: each token row is cut into groups of consecutive values stored as 2/4/8-bit codes with an fp16 scale and
 * zero point (core's {@link KvQuantizer}); the decoder reads x̂ = zero + code·scale. The prompt is quantized right
 * after the prefill (whose own attention used full precision); decoded tokens wait in a float32 residual until it
 * would reach {@code residualLength} tokens, then all of them are quantized and the residual empties (transformers:
 * {@code if keys.shape[-2] + 1 >= residual_length}). So slots [0, quantized) hold codes and [quantized, size) the
 * residual, older tokens first. Groups are per token row, so tokens can be evicted without touching the others.
 *
 * <p>Codes, scales and zero points are preallocated for the capacity, the residual for {@code residualLength} rows;
 * a tile of rows is dequantized into the tile's buffer as attention reads it (the cache is never widened whole).
 */
final class QuantizedRows implements CacheRows {

    private final int rowLength;
    private final KvQuantizer quantizer;
    private final int residualLength;
    private final int codeBytes;
    private final int groups;
    private final int groupSize;
    private final int bits;
    private final byte[][] codes;
    private final float[][] scales;
    private final float[][] zeros;
    private final float[][] residual;
    private int quantized;
    private int size;

    QuantizedRows(int batch, int capacity, int rowLength, KvQuantizer quantizer, int residualLength) {
        if (rowLength % quantizer.groupSize() != 0) {
            throw new IllegalArgumentException("a cache row of " + rowLength + " values is not a multiple of the quantization group size "
                    + quantizer.groupSize());
        }
        this.rowLength = rowLength;
        this.quantizer = quantizer;
        this.residualLength = residualLength;
        this.bits = quantizer.bits();
        this.groupSize = quantizer.groupSize();
        this.codeBytes = (rowLength * bits + 7) / 8;
        this.groups = rowLength / groupSize;
        this.codes = new byte[batch][Math.multiplyExact(capacity, codeBytes)];
        this.scales = new float[batch][Math.multiplyExact(capacity, groups)];
        this.zeros = new float[batch][Math.multiplyExact(capacity, groups)];
        this.residual = new float[batch][Math.multiplyExact(Math.max(1, residualLength), rowLength)];
    }

    @Override
    public int rowLength() {
        return rowLength;
    }

    @Override
    public int size() {
        return size;
    }

    /** Tokens held in full precision. */
    int residualTokens() {
        return size - quantized;
    }

    @Override
    public long bytes() {
        long perSequence = (long) quantized * quantizer.bytes(rowLength) + (long) (size - quantized) * rowLength * Float.BYTES;
        return perSequence * codes.length;
    }

    @Override
    public void putPrefill(int b, float[] src, int offset, int count) {
        if (size != quantized) throw new IllegalStateException("a prompt must be quantized before any decoded token is held");
        for (int i = 0; i < count; i++) quantizeInto(b, size + i, src, offset + i * rowLength);
    }

    @Override
    public void filledByPrefill(int count) {
        size += count;
        quantized = size;
    }

    @Override
    public void put(int b, float[] src, int offset) {
        int r = size - quantized;
        if (r * rowLength >= residual[b].length) {
            throw new IllegalStateException("the float32 residual is full (" + r + " rows); settle() must run after every step");
        }
        System.arraycopy(src, offset, residual[b], r * rowLength, rowLength);
    }

    @Override
    public void filled() {
        size++;
    }

    @Override
    public void settle() {
        if (size - quantized >= residualLength) {
            for (int b = 0; b < codes.length; b++) {
                for (int t = quantized; t < size; t++) quantizeInto(b, t, residual[b], (t - quantized) * rowLength);
            }
            quantized = size;
        }
    }

    private void quantizeInto(int b, int slot, float[] src, int offset) {
        float[] row = new float[rowLength];
        System.arraycopy(src, offset, row, 0, rowLength);
        QuantizedTensor q = quantizer.quantize(row, new long[]{rowLength});
        System.arraycopy(q.packed(), 0, codes[b], slot * codeBytes, codeBytes);
        for (int g = 0; g < groups; g++) {
            scales[b][slot * groups + g] = q.scale(g);
            zeros[b][slot * groups + g] = q.zeroPoint(g);
        }
    }

    @Override
    public void keep(int[] indices) {
        int keptQuantized = 0;
        for (int k = 0; k < indices.length; k++) {
            int i = indices[k];
            if (i < quantized) {
                if (i != k) {
                    for (int b = 0; b < codes.length; b++) {
                        System.arraycopy(codes[b], i * codeBytes, codes[b], k * codeBytes, codeBytes);
                        System.arraycopy(scales[b], i * groups, scales[b], k * groups, groups);
                        System.arraycopy(zeros[b], i * groups, zeros[b], k * groups, groups);
                    }
                }
                keptQuantized++;
            } else {
                int from = i - quantized;
                int to = k - keptQuantized;
                if (from != to) {
                    for (float[] r : residual) System.arraycopy(r, from * rowLength, r, to * rowLength, rowLength);
                }
            }
        }
        quantized = keptQuantized;
        size = indices.length;
    }

    /** x̂ = zero + code·scale (in float64, then rounded, as {@link KvQuantizer#dequantize}). */
    @Override
    public void tile(int b, int from, int count, Tile tile) {
        float[] out = tile.scratch(count * rowLength);
        int perByte = 8 / bits;
        int mask = (1 << bits) - 1;
        byte[] c = codes[b];
        for (int t = 0; t < count; t++) {
            int slot = from + t;
            int o = t * rowLength;
            if (slot >= quantized) {
                System.arraycopy(residual[b], (slot - quantized) * rowLength, out, o, rowLength);
                continue;
            }
            int codeBase = slot * codeBytes;
            int groupBase = slot * groups;
            for (int i = 0; i < rowLength; i++) {
                int code = ((c[codeBase + i / perByte] & 0xff) >>> ((i % perByte) * bits)) & mask;
                int g = groupBase + i / groupSize;
                out[o + i] = (float) (zeros[b][g] + (double) code * scales[b][g]);
            }
        }
        tile.data = out;
        tile.offset = 0;
        tile.stride = rowLength;
    }
}
