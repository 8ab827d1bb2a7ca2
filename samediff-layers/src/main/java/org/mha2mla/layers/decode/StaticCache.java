package org.mha2mla.layers.decode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.ToIntFunction;

import org.mha2mla.core.kv.KvQuantizer;
import org.mha2mla.layers.text.DecoderAttention.CacheTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The cache of a generation, as transformers' {@code StaticCache}: every layer's cache tensors (GQA: key after RoPE
 * and value; MLA: the latent {@code c_kv}, {@code k_rope} and the per-token modality) preallocated for
 * {@code capacity} tokens of each of {@code batch} sequences, written in place — a prompt by {@link #prefill}, then
 * one token per decode step ({@link #append}) — and read by attention over the filled slots only. Nothing is
 * allocated per step in proportion to the cache.
 *
 * <p>Two counts are kept apart: {@link #length()}, the tokens each layer holds (what attention reads), and
 * {@link #position()}, the tokens of the sequence so far (the next token's RoPE position). They differ once pruning
 * ({@link #keep}) evicts tokens: the kept slots are compacted in order, and {@link #positions(int)} says which
 * sequence positions a layer still holds. All sequences of a batch hold the same slots; sequence b may mask a left
 * padding ({@link #padding}).
 *
 * <p>Each tensor is stored as one row per token ({@link CacheRows}): float32, or quantized per group with a float32
 * residual window ({@link #quantized}).
 */
public final class StaticCache {

    /** How a cache tensor's rows are stored. */
    @FunctionalInterface
    public interface Storage {
        CacheRows rows(CacheTensor tensor, int batch, int capacity, int rowLength);
    }

    /** Every row in float32. */
    public static Storage float32() {
        return (tensor, batch, capacity, rowLength) -> new FloatRows(batch, capacity, rowLength);
    }

    /**
     * Rows quantized to {@code bits} in groups of {@code groupSize.applyAsInt(tensor)} values, the newest decoded
     * tokens in float32 until {@code residualLength} of them wait (transformers' QuantizedCache).
     */
    public static Storage quantized(int bits, ToIntFunction<CacheTensor> groupSize, int residualLength) {
        return (tensor, batch, capacity, rowLength) ->
                new QuantizedRows(batch, capacity, rowLength, new KvQuantizer(bits, groupSize.applyAsInt(tensor)), residualLength);
    }

    private final List<List<CacheTensor>> specs;
    private final int batch;
    private final int capacity;
    private final CacheRows[][] rows;
    private final int[][] positions;
    private final int[] held;
    private final int[] padding;
    private int position;

    /**
     * @param specs    per layer, the cache tensors its attention declares (their shapes with −1 for batch and sequence)
     * @param batch    sequences decoded together
     * @param capacity most tokens a layer holds at once (prompt + new tokens)
     */
    public StaticCache(List<List<CacheTensor>> specs, int batch, int capacity, Storage storage) {
        if (batch < 1 || capacity < 1) throw new IllegalArgumentException("a cache needs batch ≥ 1 and capacity ≥ 1, got " + batch + ", " + capacity);
        this.specs = List.copyOf(specs);
        this.batch = batch;
        this.capacity = capacity;
        this.rows = new CacheRows[specs.size()][];
        this.positions = new int[specs.size()][capacity];
        this.held = new int[specs.size()];
        this.padding = new int[batch];
        for (int l = 0; l < specs.size(); l++) {
            List<CacheTensor> layer = specs.get(l);
            rows[l] = new CacheRows[layer.size()];
            for (int j = 0; j < layer.size(); j++) {
                rows[l][j] = storage.rows(layer.get(j), batch, capacity, Math.toIntExact(layer.get(j).valuesPerToken()));
            }
        }
    }

    public int batch() {
        return batch;
    }

    public int capacity() {
        return capacity;
    }

    public int layers() {
        return specs.size();
    }

    /** The cache tensors of {@code layer}, in its attention's order. */
    public List<CacheTensor> tensors(int layer) {
        return specs.get(layer);
    }

    /** Tokens held per layer (every layer holds equally many between steps). */
    public int length() {
        return held[0];
    }

    /** Tokens {@code layer} holds now (differs from {@link #length()} only inside a step). */
    public int length(int layer) {
        return held[layer];
    }

    /** Tokens of the sequence so far: the position of the next token, whatever pruning removed. */
    public int position() {
        return position;
    }

    /** Sequence positions of the tokens {@code layer} holds, in slot order (ascending). */
    public int[] positions(int layer) {
        return Arrays.copyOf(positions[layer], held[layer]);
    }

    /** Masks positions below {@code positions} of sequence b (its left padding) from every later attention read. */
    public void padding(int b, int positions) {
        padding[b] = positions;
    }

    /** Leading slots of {@code layer} that sequence b does not attend to (its padding still held). */
    int paddedSlots(int layer, int b) {
        int n = 0;
        while (n < held[layer] && positions[layer][n] < padding[b]) n++;
        return n;
    }

    CacheRows rows(int layer, int tensor) {
        return rows[layer][tensor];
    }

    /**
     * Writes a prompt's cache tensors of {@code layer} (each in its declared layout, e.g. [B, n_kv, L, d_h]; the
     * layer graph's {@code present} outputs) into slots [0, L) of an empty layer, at positions
     * [position, position + L); quantized storage quantizes them all. {@link #advance}(L) follows once every layer has.
     */
    public void prefill(int layer, List<INDArray> tensors) {
        if (held[layer] != 0) throw new IllegalStateException("layer " + layer + " already holds " + held[layer] + " tokens");
        List<CacheTensor> layerSpecs = specs.get(layer);
        if (tensors.size() != layerSpecs.size()) {
            throw new IllegalArgumentException("layer " + layer + " caches " + layerSpecs.size() + " tensors, got " + tensors.size());
        }
        int length = -1;
        for (int j = 0; j < tensors.size(); j++) {
            CacheTensor spec = layerSpecs.get(j);
            INDArray t = tensors.get(j);
            checkShape(layer, spec, t);
            int l = (int) t.size(spec.seqAxis());
            if (length >= 0 && l != length) {
                throw new IllegalArgumentException("layer " + layer + ": cache tensor " + spec.name() + " holds " + l + " tokens, "
                        + layerSpecs.get(0).name() + " " + length);
            }
            length = l;
            if (length > capacity) throw new IllegalStateException("a prompt of " + length + " tokens exceeds the cache capacity " + capacity);
            float[] tokenRows = tokenRows(spec, t);
            int perSequence = length * rows[layer][j].rowLength();
            for (int b = 0; b < batch; b++) rows[layer][j].putPrefill(b, tokenRows, b * perSequence, length);
            rows[layer][j].filledByPrefill(length);
        }
        for (int k = 0; k < length; k++) positions[layer][k] = position + k;
        held[layer] = length;
    }

    private void checkShape(int layer, CacheTensor spec, INDArray t) {
        long[] declared = spec.shape();
        long[] shape = t.shape();
        boolean ok = shape.length == declared.length && shape[0] == batch;
        for (int a = 1; ok && a < shape.length; a++) ok = a == spec.seqAxis() || declared[a] < 0 || declared[a] == shape[a];
        if (!ok) {
            throw new IllegalArgumentException("layer " + layer + ": cache tensor '" + spec.name() + "' has shape " + Arrays.toString(shape)
                    + ", declared " + Arrays.toString(declared) + " with batch " + batch);
        }
    }

    /**
     * The tensor's values as token rows, [B][T][row] flat: in C order the tensor is [B, outer, T, inner] (outer = the
     * axes between batch and sequence), so token t's row of sequence b is {@code outer} runs of {@code inner} values.
     */
    static float[] tokenRows(CacheTensor spec, INDArray t) {
        long[] shape = t.shape();
        int b = (int) shape[0];
        int tokens = (int) shape[spec.seqAxis()];
        int outer = 1;
        int inner = 1;
        for (int a = 1; a < shape.length; a++) {
            if (a < spec.seqAxis()) outer *= (int) shape[a];
            if (a > spec.seqAxis()) inner *= (int) shape[a];
        }
        INDArray c = t.dataType() == DataType.FLOAT ? t : t.castTo(DataType.FLOAT);
        if (c.ordering() != 'c' || c.isView()) c = c.dup('c');
        float[] all = c.reshape(c.length()).toFloatVector();
        if (outer == 1) return all;
        int row = outer * inner;
        float[] out = new float[all.length];
        for (int s = 0; s < b; s++) {
            for (int o = 0; o < outer; o++) {
                for (int k = 0; k < tokens; k++) {
                    System.arraycopy(all, ((s * outer + o) * tokens + k) * inner, out, (s * tokens + k) * row + o * inner, inner);
                }
            }
        }
        return out;
    }

    /**
     * Takes the next slot of {@code layer} for the token at {@link #position()}: its rows are then written with
     * {@link #put} for every tensor and sequence and marked {@link #filled}; attention reads slots
     * [0, {@link #length(int)}) including it, and {@link #settle} ends the step.
     */
    int append(int layer) {
        int slot = held[layer];
        if (slot >= capacity) {
            throw new IllegalStateException("the cache holds " + capacity + " tokens per layer, its capacity; no room for position " + position);
        }
        positions[layer][slot] = position;
        held[layer] = slot + 1;
        return slot;
    }

    /** Writes the new token's row of tensor {@code tensor}, sequence b, into the slot {@link #append} took. */
    void put(int layer, int tensor, int b, float[] src, int offset) {
        CacheRows r = rows[layer][tensor];
        if (r.size() != held[layer] - 1) throw new IllegalStateException("put without append on layer " + layer);
        r.put(b, src, offset);
    }

    /** Marks the new token's rows of {@code layer}, written for every tensor and sequence, as filled. */
    void filled(int layer) {
        for (CacheRows r : rows[layer]) {
            if (r.size() != held[layer] - 1) throw new IllegalStateException("filled without append on layer " + layer);
            r.filled();
        }
    }

    /** Ends a step on {@code layer} after attention read it: quantized storage quantizes a full residual. */
    void settle(int layer) {
        for (CacheRows r : rows[layer]) r.settle();
    }

    /** Moves the sequence on by {@code tokens} once every layer holds them; every layer must hold equally many. */
    public void advance(int tokens) {
        for (int l = 1; l < held.length; l++) {
            if (held[l] != held[0]) {
                throw new IllegalStateException("layer " + l + " holds " + held[l] + " tokens but layer 0 holds " + held[0]
                        + "; layers must hold equally many");
            }
        }
        position += tokens;
    }

    /** Evicts every token of {@code layer} not at {@code indices} (ascending slot indices) from all its tensors. */
    public void keep(int layer, int[] indices) {
        int n = held[layer];
        for (int k = 0; k < indices.length; k++) {
            if (indices[k] < 0 || indices[k] >= n || (k > 0 && indices[k] <= indices[k - 1])) {
                throw new IllegalArgumentException("layer " + layer + ": keep indices must ascend within [0, " + n + "), got "
                        + Arrays.toString(indices));
            }
        }
        for (CacheRows r : rows[layer]) r.keep(indices);
        for (int k = 0; k < indices.length; k++) positions[layer][k] = positions[layer][indices[k]];
        held[layer] = indices.length;
    }

    /** Drops every layer's newest tokens beyond {@code tokens} and moves the position back with them (no pruning may have run). */
    public void truncate(int tokens) {
        if (tokens > length() || length() != position) {
            throw new IllegalArgumentException("truncate to " + tokens + " of " + length() + " held tokens at position " + position);
        }
        int[] first = new int[tokens];
        for (int k = 0; k < tokens; k++) first[k] = k;
        for (int l = 0; l < held.length; l++) keep(l, first);
        position = tokens;
    }

    /** Bytes held now over all layers, tensors and sequences, as stored. */
    public long bytesHeld() {
        long b = 0;
        for (CacheRows[] layer : rows) {
            for (CacheRows r : layer) b += r.bytes();
        }
        return b;
    }

    /** The rows of slots [0, length(layer)) of tensor {@code tensor}, sequence b, flat (for tests and checks). */
    public float[] rowsOf(int layer, int tensor, int b) {
        CacheRows r = rows[layer][tensor];
        CacheRows.Tile tile = new CacheRows.Tile();
        int n = r.size();
        float[] out = new float[n * r.rowLength()];
        if (n == 0) return out;
        r.tile(b, 0, n, tile);
        for (int t = 0; t < n; t++) System.arraycopy(tile.data, tile.offset + t * tile.stride, out, t * r.rowLength(), r.rowLength());
        return out;
    }

    /** Bytes one token costs over all layers at float32 storage. */
    public long bytesPerToken() {
        long values = 0;
        for (List<CacheTensor> layer : specs) {
            for (CacheTensor c : layer) values += c.valuesPerToken();
        }
        return values * Float.BYTES;
    }

    /** Per layer, its cache tensors (for building a cache of a decoder's specs). */
    public static List<List<CacheTensor>> specs(int layers, java.util.function.IntFunction<List<CacheTensor>> layer) {
        List<List<CacheTensor>> out = new ArrayList<>();
        for (int i = 0; i < layers; i++) out.add(layer.apply(i));
        return out;
    }
}
