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

    @Override
    public void dots(float[] a, int aOffset, int aStride, int m, float[] b, int bOffset, int bStride, int n, int k,
                     float alpha, boolean accumulate, float[] out, int oOffset, int oRow, int oCol) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float s = alpha * dot(a, aOffset + i * aStride, b, bOffset + j * bStride, k);
                int o = oOffset + i * oRow + j * oCol;
                out[o] = accumulate ? out[o] + s : s;
            }
        }
    }

    @Override
    public int transposedStride(int m) {
        return m;
    }

    @Override
    public void dotsTransposed(float[] aT, int aTOffset, int m, float[] b, int bOffset, int bStride, int n, int k,
                               boolean accumulate, float[] out, int oOffset, int oRow, int oCol) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float sum = 0;
                for (int c = 0; c < k; c++) sum += aT[aTOffset + c * m + i] * b[bOffset + j * bStride + c];
                int o = oOffset + i * oRow + j * oCol;
                out[o] = accumulate ? out[o] + sum : sum;
            }
        }
    }

    @Override
    public void weightedRows(float[] p, int pOffset, int pStride, int m, float[] b, int bOffset, int bStride, int n, int k,
                             float[] out, int oOffset, int oStride) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) axpy(p[pOffset + i * pStride + j], b, bOffset + j * bStride, out, oOffset + i * oStride, k);
        }
    }

    @Override
    public float max(float[] x, int offset, int n) {
        float m = x[offset];
        for (int i = 1; i < n; i++) m = Math.max(m, x[offset + i]);
        return m;
    }

    @Override
    public float expShift(float[] x, int offset, int n, float shift) {
        float sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[offset + i] - shift);
            x[offset + i] = e;
            sum += e;
        }
        return sum;
    }

    @Override
    public void scale(float alpha, float[] x, int offset, int n) {
        for (int i = 0; i < n; i++) x[offset + i] *= alpha;
    }

    @Override
    public void siluMul(float[] gate, int gOffset, float[] up, int uOffset, float[] out, int oOffset, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[gOffset + i];
            out[oOffset + i] = g / (1f + (float) Math.exp(-g)) * up[uOffset + i];
        }
    }

    @Override
    public double combineAndWeigh(double a, double[] x, int xOffset, double b, double[] y, int yOffset, double[] p, double[] c, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            c[i] = a * x[xOffset + i] + b * y[yOffset + i];
            sum += p[i] * c[i];
        }
        return sum;
    }

    @Override
    public double expWeightedSum(double[] p, double[] c, int n, double shift) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += p[i] * Math.exp(shift - c[i]);
        return sum;
    }
}
