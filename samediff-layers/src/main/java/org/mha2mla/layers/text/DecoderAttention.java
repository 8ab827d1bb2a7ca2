package org.mha2mla.layers.text;

import java.util.List;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * The self-attention of one decoder layer, behind which the original attention ({@link GqaAttention}) and
 * the converted one (MLA, with a latent cache) are interchangeable per layer. The decoder owns norms,
 * residuals and the MLP; the attention owns its projections and what it caches.
 */
public interface DecoderAttention {

    /** What this layer caches, in the order {@link #build} takes and returns the tensors. */
    List<CacheTensor> cacheTensors();

    /**
     * Adds one pass of the attention to the graph.
     *
     * @param scope unique node-name prefix of this pass and layer, e.g. {@code decoder/layers.3/self_attn}
     * @param x     normed hidden states [B, L, d]
     * @param cos   RoPE table [B|1, 1|heads, L, d_h] in the rotate_half layout
     * @param sin   like {@code cos}
     * @param mask     additive mask [B, 1, L, L]: 0 where attended, a large negative elsewhere
     * @param modality [B, L] float, {@link DecoderInput#VISUAL} (1) for visual tokens, {@link DecoderInput#TEXT} (0) else
     * @return the output [B, L, d], the cache tensors of this pass's tokens (a prefill's cache; decode steps run
     *         eagerly, {@code org.mha2mla.layers.decode}), and the attention probabilities [B, n_h, L, T] (what
     *         H2O/TOVA rank cached tokens by)
     */
    default Result build(String scope, SDVariable x, SDVariable cos, SDVariable sin, SDVariable mask, SDVariable modality) {
        return build(scope, new Queries(x, cos, sin), x, cos, sin, mask, modality);
    }

    /**
     * Adds one pass whose query rows are given apart from the rows that the keys and values come from; the whole pass
     * ({@link #build(String, SDVariable, SDVariable, SDVariable, SDVariable, SDVariable)}) gives the same rows to both.
     *
     * @param queries the query rows' normed hidden states [B, L_q, d] and RoPE tables [B|1, 1|heads, L_q, d_h]
     * @param mask    additive mask [B, 1, L_q, T] of the query rows
     * @return the output of the query rows [B, L_q, d], the cache tensors of all T rows, the probabilities [B, n_h, L_q, T]
     */
    Result build(String scope, Queries queries, SDVariable x, SDVariable cos, SDVariable sin, SDVariable mask, SDVariable modality);

    /**
     * Adds one pass of query rows over cache tensors computed before for the T rows they attend to (a pass of
     * {@link #build} asked for its cache tensors alone): the query blocks of a long sequence's inference share one
     * computation of the keys' side instead of each projecting every key row again. Same output as {@link #build} with
     * those rows.
     *
     * @param queries the query rows' normed hidden states [B, L_q, d] and RoPE tables [B|1, 1|heads, L_q, d_h]
     * @param present the T rows' cache tensors, in {@link #cacheTensors()} order
     * @param mask    additive mask [B, 1, L_q, T] of the query rows
     * @return the output of the query rows [B, L_q, d], {@code present}, the probabilities [B, n_h, L_q, T]
     */
    Result attend(String scope, Queries queries, List<SDVariable> present, SDVariable mask);

    /** The query rows of a pass: normed hidden states [B, L_q, d] and their RoPE tables. */
    record Queries(SDVariable x, SDVariable cos, SDVariable sin) {
    }

    record Result(SDVariable output, List<SDVariable> present, SDVariable probs) {
    }

    /** Builds layer {@code layer}'s attention in a graph that holds (or has placeholders for) its weights. */
    @FunctionalInterface
    interface Factory {
        DecoderAttention create(SameDiff sd, int layer);
    }

    /**
     * One cached tensor per layer, e.g. GQA's key [B, n_kv, T, d_h].
     *
     * @param name     short name used in node and placeholder names ({@code key}, {@code value}, {@code c_kv}, …)
     * @param shape    its shape with −1 for the batch and the sequence axis
     * @param seqAxis  the axis that grows by one per generated token
     */
    record CacheTensor(String name, long[] shape, int seqAxis) {

        /** Values one token adds to this tensor (the product of the fixed axes other than the batch). */
        public long valuesPerToken() {
            long n = 1;
            for (int i = 1; i < shape.length; i++) {
                if (i != seqAxis) n *= shape[i];
            }
            return n;
        }
    }
}
