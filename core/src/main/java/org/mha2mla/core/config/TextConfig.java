package org.mha2mla.core.config;

import java.util.List;

/**
 * The decoder of every supported VLM (Llama for the LLaVA family, Qwen2 for Qwen2.5-VL), after the
 * importer has applied the defaults transformers applies to fields a hub config leaves out.
 *
 * @param modelType            "llama" or "qwen2_5_vl_text" (as transformers names the text config)
 * @param headDim              d_h; transformers derives hidden_size / num_attention_heads when absent
 * @param attentionBias        q/k/v projections carry a bias (always true for Qwen2, false for Llama)
 * @param mropeSection         M-RoPE sections (t, h, w) in frequency pairs, summing to d_h/2; null for 1-D RoPE
 * @param eosTokenIds          every id that ends generation (configs give one id or a list)
 */
public record TextConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int headDim,
        String hiddenAct,
        double rmsNormEps,
        double ropeTheta,
        int maxPositionEmbeddings,
        boolean attentionBias,
        boolean tieWordEmbeddings,
        Integer bosTokenId,
        List<Integer> eosTokenIds,
        Integer padTokenId,
        int[] mropeSection) {

    public TextConfig {
        require(hiddenSize > 0 && numAttentionHeads > 0 && numKeyValueHeads > 0 && headDim > 0,
                "sizes must be positive: hidden_size=" + hiddenSize + " heads=" + numAttentionHeads
                        + " kv_heads=" + numKeyValueHeads + " head_dim=" + headDim);
        require(numAttentionHeads % numKeyValueHeads == 0,
                "num_attention_heads " + numAttentionHeads + " is not a multiple of num_key_value_heads " + numKeyValueHeads);
        require(headDim % 2 == 0, "head_dim " + headDim + " must be even for rotary embeddings");
        if (mropeSection != null) {
            int sum = 0;
            for (int s : mropeSection) sum += s;
            require(sum == headDim / 2, "mrope_section sums to " + sum + " but head_dim/2 = " + headDim / 2);
        }
        eosTokenIds = eosTokenIds == null ? List.of() : List.copyOf(eosTokenIds);
    }

    /** Query heads per KV head (1 for MHA). */
    public int groupSize() {
        return numAttentionHeads / numKeyValueHeads;
    }

    /** Number of RoPE frequency pairs per head, d_h / 2. */
    public int ropePairs() {
        return headDim / 2;
    }

    public boolean isMrope() {
        return mropeSection != null;
    }


    static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }
}
