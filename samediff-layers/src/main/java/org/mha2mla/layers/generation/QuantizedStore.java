package org.mha2mla.layers.generation;

import java.util.ArrayList;
import java.util.List;

import org.mha2mla.core.kv.KvQuantizer;
import org.mha2mla.core.kv.QuantizedTensor;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One cache tensor held quantized ({@link KvQuantization}): per token a {@link QuantizedTensor} of its row
 * (codes + fp16 scale/zero per group), the newest tokens in a float32 residual until it would reach the residual
 * length. Older tokens come first: held order = quantized tokens, then residual tokens.
 */
final class QuantizedStore implements CacheStore {

    private final TokenRows layout;
    private final KvQuantizer quantizer;
    private final int residualLength;
    private final List<QuantizedTensor> quantized = new ArrayList<>();
    private final List<float[]> residual = new ArrayList<>();

    /** Stores the prefill's {@code tensor}, quantizing all of its tokens (transformers quantizes the prompt at once). */
    QuantizedStore(TokenRows layout, KvQuantizer quantizer, int residualLength, INDArray tensor) {
        this.layout = layout;
        this.quantizer = quantizer;
        this.residualLength = residualLength;
        int t = layout.tokens(tensor);
        float[] flat = layout.rows(tensor, 0, t);
        for (int i = 0; i < t; i++) quantized.add(quantize(flat, i));
    }

    private QuantizedTensor quantize(float[] flat, int token) {
        float[] row = new float[layout.rowLength];
        System.arraycopy(flat, token * layout.rowLength, row, 0, layout.rowLength);
        return quantizer.quantize(row, new long[]{layout.rowLength});
    }

    @Override
    public INDArray floats() {
        int row = layout.rowLength;
        float[] flat = new float[length() * row];
        for (int t = 0; t < quantized.size(); t++) dequantize(quantized.get(t), flat, t * row);
        for (int t = 0; t < residual.size(); t++) System.arraycopy(residual.get(t), 0, flat, (quantized.size() + t) * row, row);
        return layout.tensor(flat, length());
    }

    /** x̂ = zero + q · scale, as {@link KvQuantizer#dequantize}, into {@code out} at {@code offset}. */
    private static void dequantize(QuantizedTensor q, float[] out, int offset) {
        int n = (int) q.length();
        int g = q.groupSize();
        for (int i = 0; i < n; i++) {
            out[offset + i] = (float) (q.zeroPoint(i / g) + (double) q.code(i) * q.scale(i / g));
        }
    }

    @Override
    public void append(INDArray grown, int newTokens) {
        int t = layout.tokens(grown);
        if (t != length() + newTokens) {
            throw new IllegalStateException("step returned " + t + " tokens, expected " + (length() + newTokens));
        }
        float[] flat = layout.rows(grown, t - newTokens, t);
        for (int i = 0; i < newTokens; i++) {
            float[] row = new float[layout.rowLength];
            System.arraycopy(flat, i * layout.rowLength, row, 0, layout.rowLength);
            residual.add(row);
        }
        // transformers: `if keys.shape[-2] + 1 >= residual_length` → quantize everything, empty the residual.
        if (residual.size() >= residualLength) {
            for (float[] row : residual) quantized.add(quantize(row, 0));
            residual.clear();
        }
    }

    @Override
    public void keep(int[] indices) {
        List<QuantizedTensor> q = new ArrayList<>();
        List<float[]> r = new ArrayList<>();
        for (int i : indices) {
            if (i < quantized.size()) q.add(quantized.get(i));
            else r.add(residual.get(i - quantized.size()));
        }
        quantized.clear();
        quantized.addAll(q);
        residual.clear();
        residual.addAll(r);
    }

    @Override
    public int length() {
        return quantized.size() + residual.size();
    }

    /** Tokens held in full precision. */
    int residualTokens() {
        return residual.size();
    }

    @Override
    public long bytes() {
        long b = (long) residual.size() * layout.rowLength * Float.BYTES;
        for (QuantizedTensor q : quantized) b += q.byteSize();
        return b;
    }
}
