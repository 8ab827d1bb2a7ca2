package org.mha2mla.layers.generation;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.mha2mla.core.kv.KvQuantizer;
import org.mha2mla.layers.text.DecoderAttention.CacheTensor;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The per-layer cache of a decoder during generation: whatever tensors each layer's attention declares
 * (GQA: key after RoPE and value, [B, n_kv, T, d_h]; MLA: its latent tensors), each with its sequence axis. The
 * decode-step graph concatenates the new token inside the graph and returns the grown tensors, from which the
 * cache takes the new token.
 *
 * <p>A {@link CachePolicy} decides how tensors are stored (float32 or quantized) and which tokens stay (pruning).
 * Two counts are therefore kept apart: {@link #length()}, the tokens held per layer (what the step mask covers),
 * and {@link #position()}, the tokens of the sequence so far (the RoPE position of the next token). Every layer
 * holds the same number of tokens, though after pruning not the same ones ({@link #positions(int)}).
 */
public final class KvCache {

    private final List<List<CacheTensor>> specs;
    private final List<List<CacheStore>> stores;
    private final List<int[]> positions;
    private final CachePruning.Evictor evictor;
    private int length;
    private int position;

    private KvCache(List<List<CacheTensor>> specs, List<List<INDArray>> tensors, int length, CachePolicy policy) {
        this.specs = specs;
        this.stores = new ArrayList<>();
        this.positions = new ArrayList<>();
        this.length = length;
        this.position = length;
        for (int i = 0; i < specs.size(); i++) {
            List<CacheStore> layer = new ArrayList<>();
            for (int j = 0; j < specs.get(i).size(); j++) {
                CacheTensor c = specs.get(i).get(j);
                INDArray t = tensors.get(i).get(j);
                TokenRows layout = TokenRows.of(c, t);
                if (layout.tokens(t) != length) {
                    throw new IllegalStateException("cache tensor " + c.name() + " of layer " + i + " holds "
                            + layout.tokens(t) + " tokens, expected " + length);
                }
                KvQuantization q = policy.quantization();
                layer.add(q == null ? new CacheStore.FloatStore(layout, t)
                        : new QuantizedStore(layout, new KvQuantizer(q.bits(), q.groupSizeFor(c)), q.residualLength(), t));
            }
            stores.add(layer);
            int[] p = new int[length];
            for (int k = 0; k < length; k++) p[k] = k;
            positions.add(p);
        }
        this.evictor = policy.pruning() == null ? null : policy.pruning().start(length, specs.size());
    }

    /**
     * The cache after a full pass over a prompt of {@code length} tokens (outputs {@code prefix + present.i.name}),
     * stored and pruned by {@code policy} (pruning reads {@code prefix + attention.i}).
     */
    static KvCache fromOutputs(TextDecoder decoder, Map<String, INDArray> outputs, String prefix, int length, CachePolicy policy) {
        List<List<CacheTensor>> specs = specs(decoder);
        List<List<INDArray>> tensors = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            List<INDArray> t = new ArrayList<>();
            for (CacheTensor c : specs.get(i)) t.add(require(outputs, prefix + TextDecoder.present(i, c.name())));
            tensors.add(t);
        }
        KvCache cache = new KvCache(specs, tensors, length, policy);
        cache.prune(outputs, prefix);
        return cache;
    }

    /** A cache over given tensors (per layer, in the specs' order) holding {@code length} tokens, e.g. for tests. */
    static KvCache of(List<List<CacheTensor>> specs, List<List<INDArray>> tensors, int length, CachePolicy policy) {
        return new KvCache(specs, tensors, length, policy);
    }

    /** Takes the new tokens of a step pass's grown tensors ({@code step.present.i.name}), then prunes. */
    void update(Map<String, INDArray> stepOutputs, int newTokens) {
        for (int i = 0; i < specs.size(); i++) {
            for (int j = 0; j < specs.get(i).size(); j++) {
                String name = TextDecoder.STEP + TextDecoder.present(i, specs.get(i).get(j).name());
                stores.get(i).get(j).append(require(stepOutputs, name), newTokens);
            }
            int[] p = positions.get(i);
            int[] grown = java.util.Arrays.copyOf(p, p.length + newTokens);
            for (int k = 0; k < newTokens; k++) grown[p.length + k] = position + k;
            positions.set(i, grown);
        }
        length += newTokens;
        position += newTokens;
        prune(stepOutputs, TextDecoder.STEP);
    }

    /** Whether the passes feeding this cache must return attention probabilities. */
    boolean needsAttention() {
        return evictor != null;
    }

    private void prune(Map<String, INDArray> outputs, String prefix) {
        if (evictor == null) return;
        for (int i = 0; i < specs.size(); i++) {
            INDArray probs = outputs.get(prefix + TextDecoder.attentionProbs(i));
            if (probs == null) throw new IllegalStateException("pruning needs the pass output '" + prefix + TextDecoder.attentionProbs(i) + "'");
            if (probs.size(probs.rank() - 1) != length) {
                throw new IllegalStateException("layer " + i + ": attention over " + probs.size(probs.rank() - 1)
                        + " tokens but the cache holds " + length);
            }
            int[] keep = evictor.keep(i, probs);
            if (keep != null) keep(i, keep);
        }
        int held = positions.get(0).length;
        for (int i = 1; i < positions.size(); i++) {
            if (positions.get(i).length != held) {
                throw new IllegalStateException("pruning left " + positions.get(i).length + " tokens in layer " + i
                        + " but " + held + " in layer 0; layers must hold equally many (one step mask serves all)");
            }
        }
        length = held;
    }

    /** Evicts every token of {@code layer} not in {@code indices} (ascending indices into the held tokens) from all its tensors. */
    void keep(int layer, int[] indices) {
        int[] held = positions.get(layer);
        int[] kept = new int[indices.length];
        for (int k = 0; k < indices.length; k++) {
            if (indices[k] < 0 || indices[k] >= held.length || (k > 0 && indices[k] <= indices[k - 1])) {
                throw new IllegalArgumentException("layer " + layer + ": keep indices must ascend within [0, " + held.length
                        + "), got " + java.util.Arrays.toString(indices));
            }
            kept[k] = held[indices[k]];
        }
        for (CacheStore s : stores.get(layer)) s.keep(indices);
        positions.set(layer, kept);
    }

    private static INDArray require(Map<String, INDArray> outputs, String name) {
        INDArray a = outputs.get(name);
        if (a == null) throw new IllegalStateException("decoder pass did not return cache tensor '" + name + "'");
        // Detach from the graph's workspace-managed output before the next run reuses it.
        return a.dup();
    }

    /** Tokens held per layer (what the next step's mask covers). */
    public int length() {
        return length;
    }

    /** Tokens of the sequence so far: the position of the next token, whatever pruning removed. */
    public int position() {
        return position;
    }

    /** Sequence positions of the tokens {@code layer} holds, ascending. */
    public int[] positions(int layer) {
        return positions.get(layer).clone();
    }

    /** Per layer, the cache tensors in the attention's order as float32 (fed to the step pass as {@code past.i.name}). */
    public List<List<INDArray>> tensors() {
        List<List<INDArray>> out = new ArrayList<>();
        for (List<CacheStore> layer : stores) {
            List<INDArray> t = new ArrayList<>();
            for (CacheStore s : layer) t.add(s.floats());
            out.add(t);
        }
        return out;
    }

    /** Bytes held now over all layers and tensors, as stored. */
    public long bytesHeld() {
        long b = 0;
        for (List<CacheStore> layer : stores) {
            for (CacheStore s : layer) b += s.bytes();
        }
        return b;
    }

    public CacheStats stats() {
        return new CacheStats(position, length, bytesHeld());
    }

    /** Bytes one token costs over all layers at float32 storage. */
    public long bytesPerToken() {
        return bytesPerToken(specs);
    }

    static long bytesPerToken(List<List<CacheTensor>> specs) {
        long values = 0;
        for (List<CacheTensor> layer : specs) {
            for (CacheTensor c : layer) values += c.valuesPerToken();
        }
        return values * Float.BYTES;
    }

    /** Bytes one token costs in {@code decoder}'s cache over all layers at float32 storage. */
    public static long bytesPerToken(TextDecoder decoder) {
        return bytesPerToken(specs(decoder));
    }

    private static List<List<CacheTensor>> specs(TextDecoder decoder) {
        List<List<CacheTensor>> specs = new ArrayList<>();
        for (int i = 0; i < decoder.numLayers(); i++) specs.add(decoder.cacheTensors(i));
        return specs;
    }
}
