package org.mha2mla.core.tensor;

import java.nio.ByteBuffer;

/** {@link Kernels} as plain Java loops: the reference the Vector API version is tested against, and its fallback. */
final class ScalarKernels implements Kernels {

    /** One element of a little-endian buffer as float32 (bf16 is the upper half of a float32; f16 per IEEE 754). */
    static float element(ByteBuffer b, long index, Precision p) {
        return switch (p) {
            case F32 -> b.getFloat(Math.toIntExact(index * 4));
            case BF16 -> Float.intBitsToFloat((b.getShort(Math.toIntExact(index * 2)) & 0xFFFF) << 16);
            case F16 -> halfToFloat(b.getShort(Math.toIntExact(index * 2)));
        };
    }

    /** IEEE 754 binary16 → float32, exact for all 65536 bit patterns (Java 17 has no Float.float16ToFloat). */
    static float halfToFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        if (exp == 0x1F) return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        if (exp == 0) {
            float v = mant * 0x1p-24f;
            return sign == 0 ? v : -v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    @Override
    public void widen(ByteBuffer src, long srcIndex, Precision precision, float[] dst, int dstOffset, int n) {
        for (int i = 0; i < n; i++) dst[dstOffset + i] = element(src, srcIndex + i, precision);
    }

    @Override
    public void widen(ByteBuffer src, long srcIndex, Precision precision, ByteBuffer dst, long dstIndex, int n) {
        for (int i = 0; i < n; i++) dst.putFloat(Math.toIntExact((dstIndex + i) * 4), element(src, srcIndex + i, precision));
    }

    @Override
    public void matVec(ByteBuffer w, Precision precision, int cols, int rowFrom, int rowTo,
                       float[] x, int batch, float[] y, int yStride, int yOffset) {
        float[] row = new float[cols];
        for (int r = rowFrom; r < rowTo; r++) {
            widen(w, (long) r * cols, precision, row, 0, cols);
            for (int b = 0; b < batch; b++) y[b * yStride + yOffset + r] = dot(row, 0, x, b * cols, cols);
        }
    }

    @Override
    public float dot(float[] a, int aOffset, float[] b, int bOffset, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) s += a[aOffset + i] * b[bOffset + i];
        return s;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOffset, float[] y, int yOffset, int n) {
        for (int i = 0; i < n; i++) y[yOffset + i] += alpha * x[xOffset + i];
    }
}
