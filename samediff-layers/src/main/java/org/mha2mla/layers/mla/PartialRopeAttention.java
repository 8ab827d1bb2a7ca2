package org.mha2mla.layers.mla;

import java.util.List;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.GqaAttention;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The partial-RoPE model of MHA2MLA's first step (what {@code convert --step rope} writes and trainer stage 1
 * trains): the original GQA attention with its own q/k/v/o weights, rotating only the kept pairs of each
 * (layer, KV head) — the query heads of a GQA group share their KV head's pairs — and leaving the NoPE dims
 * unrotated. The rotation of a NoPE dim is the identity (cos 1, sin 0), so the layer multiplies the shared
 * cos/sin tables by constant masks [1, n_h|n_kv, 1, d_h]:
 * <pre>  cos' = cos·keep + (1 − keep),   sin' = sin·keep.</pre>
 * The cache is GQA's full K (after partial RoPE) and V.
 */
public final class PartialRopeAttention implements DecoderAttention {

    private final GqaAttention gqa;
    private final SDVariable keepQ;
    private final SDVariable dropQ;
    private final SDVariable keepK;
    private final SDVariable dropK;

    /** {@code key} is the module prefix, e.g. {@code model.layers.0.self_attn}; {@code layer} indexes {@code selection}. */
    public PartialRopeAttention(SameDiff sd, TextConfig config, String key, RopeSelection selection, int layer) {
        if (selection.kvHeads() != config.numKeyValueHeads() || selection.headDim() != config.headDim()) {
            throw new IllegalArgumentException(key + ": RoPE selection " + selection + " does not fit n_kv = "
                    + config.numKeyValueHeads() + ", d_h = " + config.headDim());
        }
        this.gqa = new GqaAttention(sd, config, key);
        boolean[][] q = selection.queryMasks(layer, config.numAttentionHeads());
        boolean[][] k = selection.keyMasks(layer);
        this.keepQ = sd.constant(key + "/rope_keep_q", masks(q, true));
        this.dropQ = sd.constant(key + "/rope_drop_q", masks(q, false));
        this.keepK = sd.constant(key + "/rope_keep_k", masks(k, true));
        this.dropK = sd.constant(key + "/rope_drop_k", masks(k, false));
    }

    @Override
    public List<CacheTensor> cacheTensors() {
        return gqa.cacheTensors();
    }

    @Override
    public Result build(String scope, Queries queries, SDVariable x, SDVariable cos, SDVariable sin, SDVariable mask,
                        SDVariable modality) {
        return gqa.build(scope, partial(queries), x, cos.mul(keepK).add(dropK), sin.mul(keepK), mask);
    }

    @Override
    public Result attend(String scope, Queries queries, List<SDVariable> present, SDVariable mask) {
        return gqa.attend(scope, partial(queries), present, mask);
    }

    /** The query rows with their tables' NoPE dims at cos 1, sin 0. */
    private Queries partial(Queries queries) {
        return new Queries(queries.x(), queries.cos().mul(keepQ).add(dropQ), queries.sin().mul(keepQ));
    }

    /** [1, heads, 1, d_h]: 1 on the kept dims ({@code kept}) or on the NoPE dims (!kept). */
    static org.nd4j.linalg.api.ndarray.INDArray masks(boolean[][] dimMasks, boolean kept) {
        int heads = dimMasks.length;
        int d = dimMasks[0].length;
        float[] m = new float[heads * d];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < d; i++) m[h * d + i] = dimMasks[h][i] == kept ? 1f : 0f;
        }
        return Nd4j.create(m, new long[]{1, heads, 1, d}, DataType.FLOAT);
    }
}
