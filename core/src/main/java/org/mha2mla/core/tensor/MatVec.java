package org.mha2mla.core.tensor;

import java.nio.ByteBuffer;

/**
 * {@code y = x·Wᵀ (+ b)} for a weight W [out, in] in its stored precision and a few input rows x [batch, in]: the
 * products of a decode step, where every weight is read once per token and memory bandwidth sets the speed. The
 * output rows are split over the cores ({@link Parallel}); each thread reads its rows of W once for all batch rows.
 */
public final class MatVec {

    /** Below this many weight elements one thread does the whole product (the split costs more than it saves). */
    private static final int MIN_ELEMENTS_PER_THREAD = 1 << 15;

    private MatVec() {
    }

    /**
     * y[b·out + r] = Σ_c W[r, c]·x[b·in + c] (+ bias[r]) for b < batch.
     *
     * @param bias null, or a float32 vector [out]
     */
    public static void apply(StoredTensor w, float[] x, int batch, float[] y, StoredTensor bias) {
        int out = Math.toIntExact(w.rows());
        int in = Math.toIntExact(w.cols());
        if (x.length < (long) batch * in || y.length < (long) batch * out) {
            throw new IllegalArgumentException(w.name() + " [" + out + ", " + in + "]: x holds " + x.length + " and y "
                    + y.length + " floats, batch " + batch + " needs " + (long) batch * in + " and " + (long) batch * out);
        }
        Kernels k = Kernels.get();
        int perChunk = w.rowsPerChunk();
        int minRows = Math.max(1, MIN_ELEMENTS_PER_THREAD / Math.max(1, in));
        Parallel.forRange(out, minRows, (from, to) -> {
            for (int r = from; r < to; ) {
                int c = r / perChunk;
                int chunkEnd = Math.min(to, (c + 1) * perChunk);
                ByteBuffer chunk = w.chunk(c);
                int base = c * perChunk;
                k.matVec(chunk, w.precision(), in, r - base, chunkEnd - base, x, batch, y, out, base);
                r = chunkEnd;
            }
        });
        if (bias != null) addBias(bias, batch, out, y);
    }

    private static void addBias(StoredTensor bias, int batch, int out, float[] y) {
        if (bias.numel() != out) throw new IllegalArgumentException(bias.name() + " has " + bias.numel() + " values, expected " + out);
        float[] b = new float[out];
        bias.rowsInto(0, 1, b, 0);
        Kernels k = Kernels.get();
        for (int i = 0; i < batch; i++) k.axpy(1f, b, 0, y, i * out, out);
    }
}
