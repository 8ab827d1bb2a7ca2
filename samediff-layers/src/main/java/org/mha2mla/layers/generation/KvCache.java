package org.mha2mla.layers.generation;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.mha2mla.layers.text.DecoderAttention.CacheTensor;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The per-layer cache of a decoder during generation: whatever tensors each layer's attention declares
 * (GQA: key after RoPE and value, [B, n_kv, T, d_h]; MLA: its latent tensors). The decode-step graph
 * concatenates the new token inside the graph and returns the grown tensors, which replace the old ones.
 */
public final class KvCache {

    private final List<List<CacheTensor>> specs;
    private final List<List<INDArray>> tensors;
    private int length;

    private KvCache(List<List<CacheTensor>> specs, List<List<INDArray>> tensors, int length) {
        this.specs = specs;
        this.tensors = tensors;
        this.length = length;
    }

    /** The cache after a full pass over {@code length} tokens: outputs {@code prefix + present.i.name}. */
    static KvCache fromOutputs(TextDecoder decoder, Map<String, INDArray> outputs, String prefix, int length) {
        List<List<CacheTensor>> specs = new ArrayList<>();
        List<List<INDArray>> tensors = new ArrayList<>();
        for (int i = 0; i < decoder.numLayers(); i++) {
            List<CacheTensor> s = decoder.cacheTensors(i);
            List<INDArray> t = new ArrayList<>();
            for (CacheTensor c : s) {
                t.add(require(outputs, prefix + TextDecoder.present(i, c.name())));
            }
            specs.add(s);
            tensors.add(t);
        }
        KvCache cache = new KvCache(specs, tensors, length);
        cache.checkLength();
        return cache;
    }

    /** Replaces every tensor by the step pass's grown one ({@code step.present.i.name}). */
    void update(Map<String, INDArray> stepOutputs, int newTokens) {
        for (int i = 0; i < specs.size(); i++) {
            for (int j = 0; j < specs.get(i).size(); j++) {
                tensors.get(i).set(j, require(stepOutputs, TextDecoder.STEP + TextDecoder.present(i, specs.get(i).get(j).name())));
            }
        }
        length += newTokens;
        checkLength();
    }

    private static INDArray require(Map<String, INDArray> outputs, String name) {
        INDArray a = outputs.get(name);
        if (a == null) throw new IllegalStateException("decoder pass did not return cache tensor '" + name + "'");
        // Detach from the graph's workspace-managed output before the next run reuses it.
        return a.dup();
    }

    private void checkLength() {
        for (int i = 0; i < specs.size(); i++) {
            for (int j = 0; j < specs.get(i).size(); j++) {
                CacheTensor c = specs.get(i).get(j);
                long t = tensors.get(i).get(j).size(c.seqAxis());
                if (t != length) {
                    throw new IllegalStateException("cache tensor " + c.name() + " of layer " + i + " holds " + t
                            + " tokens, expected " + length);
                }
            }
        }
    }

    /** Tokens cached so far. */
    public int length() {
        return length;
    }

    /** Per layer, the cache tensors in the attention's order (fed to the step pass as {@code past.i.name}). */
    public List<List<INDArray>> tensors() {
        return tensors;
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
        List<List<CacheTensor>> specs = new ArrayList<>();
        for (int i = 0; i < decoder.numLayers(); i++) specs.add(decoder.cacheTensors(i));
        return bytesPerToken(specs);
    }
}
