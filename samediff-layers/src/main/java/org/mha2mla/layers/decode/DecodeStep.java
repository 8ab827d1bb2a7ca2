package org.mha2mla.layers.decode;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.tensor.Kernels;
import org.mha2mla.core.tensor.MatVec;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One decode step of the text decoder, run eagerly over the weights where they lie (a mapped checkpoint in bf16 /
 * f16 / f32, or arrays of this process), one new token per sequence of a batch: per layer
 * <pre>
 *   x = input_layernorm(h);  h += o_proj(attention(x, cache));  x = post_attention_layernorm(h);
 *   h += down_proj(silu(gate_proj(x)) · up_proj(x))
 * </pre>
 * then the final norm and the lm_head ({@link LayerwiseDecoder#logitsOf}). The attention is the layer's own
 * ({@link GqaStep} for the original and partial-RoPE models, {@link MlaStep} absorbed over the latent cache) and
 * writes the token into the {@link StaticCache} before attending over it.
 *
 * <p>Why not SameDiff: a step is a few hundred small ops, each costing more in SameDiff's graph machinery than its
 * arithmetic, and ND4J has no kernel that reads bf16 weights at memory speed; its {@code mmul} is also slower than
 * {@link MatVec} for float32 weights at batch 1 and 16 ({@code benchmarks/kernels}), so no product of a step goes
 * through ND4J. Here every weight matrix is read once
 * per step in its stored precision for all sequences of the batch ({@link MatVec}, split over the cores), the cache
 * once for scores and values together ({@link CachedAttention}); nothing proportional to the weights or the cache is
 * allocated or copied. The prompt itself goes through {@link LayerwiseDecoder#forward} (its matrix products reach
 * the BLAS), whose cache tensors fill the {@link StaticCache}.
 *
 * <p>The decoder must keep its weights open ({@link LayerwiseDecoder.Residency#KEEP}). Not thread-safe: one step at a
 * time (scratch buffers are reused from step to step).
 */
public final class DecodeStep {

    /** Receives one layer's attention probabilities of a step (for cache-eviction rules). */
    @FunctionalInterface
    public interface ProbsSink {
        void accept(int layer, AttentionProbs probs);
    }

    private final LayerwiseDecoder decoder;
    private final TextConfig config;
    private final AttentionStep[] attention;
    private final float[][] inputNorm;
    private final float[][] postNorm;
    private final StoredTensor[] gate;
    private final StoredTensor[] up;
    private final StoredTensor[] down;
    private final float[] finalNorm;
    private final StoredTensor embed;
    private final String hiddenAct;
    private final Kernels k = Kernels.get();
    private float[] x;
    private float[] delta;
    private float[] gateOut;
    private float[] upOut;
    private float[] probs;
    private StepProfile profile;

    private DecodeStep(LayerwiseDecoder decoder, Mha2MlaConfig conversion) {
        if (decoder.residency() != LayerwiseDecoder.Residency.KEEP) {
            throw new IllegalArgumentException("decoding reads every layer at every token: the decoder must keep its weights open");
        }
        this.decoder = decoder;
        this.config = decoder.config();
        this.hiddenAct = config.hiddenAct();
        if (!List.of("silu", "swish").contains(hiddenAct)) {
            throw new IllegalArgumentException("decoding supports the SwiGLU MLP (hidden_act silu), not hidden_act '" + hiddenAct + "'");
        }
        int layers = decoder.numLayers();
        long d = config.hiddenSize();
        long ff = config.intermediateSize();
        LayerWeights w = new LayerWeights(decoder);
        RopeSelection selection = conversion == null ? null : conversion.selection(config.headDim());
        this.attention = new AttentionStep[layers];
        this.inputNorm = new float[layers][];
        this.postNorm = new float[layers][];
        this.gate = new StoredTensor[layers];
        this.up = new StoredTensor[layers];
        this.down = new StoredTensor[layers];
        for (int i = 0; i < layers; i++) {
            String layer = decoder.layerKey(i);
            String attn = layer + ".self_attn";
            if (conversion == null) attention[i] = new GqaStep(w, config, attn, null);
            else if (!conversion.isMla()) attention[i] = new GqaStep(w, config, attn, keptPairs(selection, i));
            else attention[i] = new MlaStep(w, config, attn, selection, i, conversion.dKv(), conversion.decoupled());
            inputNorm[i] = w.vector(layer + ".input_layernorm.weight", d);
            postNorm[i] = w.vector(layer + ".post_attention_layernorm.weight", d);
            gate[i] = w.matrix(layer + ".mlp.gate_proj.weight", ff, d);
            up[i] = w.matrix(layer + ".mlp.up_proj.weight", ff, d);
            down[i] = w.matrix(layer + ".mlp.down_proj.weight", d, ff);
        }
        this.finalNorm = w.vector(decoder.normKey(), d);
        this.embed = w.matrix(decoder.embedKey(), config.vocabSize(), d);
    }

    /**
     * The decode step of {@code decoder}'s layers with the attention {@code conversion} describes (null: the original
     * GQA; partial RoPE; MLA).
     */
    public static DecodeStep of(LayerwiseDecoder decoder, Mha2MlaConfig conversion) {
        return new DecodeStep(decoder, conversion);
    }

    /** Per KV head of layer i, which RoPE pairs partial RoPE rotates. */
    private static boolean[][] keptPairs(RopeSelection selection, int layer) {
        boolean[][] kept = new boolean[selection.kvHeads()][selection.headDim() / 2];
        for (int j = 0; j < kept.length; j++) {
            for (int p : selection.keptPairs(layer, j)) kept[j][p] = true;
        }
        return kept;
    }

    public LayerwiseDecoder decoder() {
        return decoder;
    }

    /** Times the phases of every later step into {@code profile} (null: no timing). */
    public void profile(StepProfile profile) {
        this.profile = profile;
    }

    /** An empty cache for this decoder's layers: {@code batch} sequences of up to {@code capacity} tokens. */
    public StaticCache newCache(int batch, int capacity, StaticCache.Storage storage) {
        return new StaticCache(StaticCache.specs(decoder.numLayers(), decoder::cacheTensors), batch, capacity, storage);
    }

    /**
     * Runs {@code prompt} [B, L, d] through every layer ({@link LayerwiseDecoder#forward}: one SameDiff graph per layer,
     * the prompt's matrix products in the BLAS), writes each layer's cache tensors into the empty {@code cache} and
     * advances it by L; {@code sink} (may be null) receives each layer's attention probabilities [B, n_h, L, L] once its
     * cache tensors are written (to prune them). Returns the hidden states after the final norm [B, L, d].
     */
    public INDArray prefill(DecoderInput prompt, StaticCache cache, ProbsSink sink) {
        INDArray normed = decoder.forward(prompt, new LayerwiseDecoder.LayerHook() {
            @Override
            public List<String> outputs(int layer) {
                List<String> names = new ArrayList<>();
                for (DecoderAttention.CacheTensor c : decoder.cacheTensors(layer)) names.add(LayerwiseDecoder.present(c.name()));
                if (sink != null) names.add(LayerwiseDecoder.PROBS);
                return names;
            }

            @Override
            public void accept(int layer, Map<String, INDArray> out) {
                List<INDArray> tensors = new ArrayList<>();
                for (DecoderAttention.CacheTensor c : decoder.cacheTensors(layer)) tensors.add(out.get(LayerwiseDecoder.present(c.name())));
                cache.prefill(layer, tensors);
                if (sink != null) sink.accept(layer, AttentionProbs.of(out.get(LayerwiseDecoder.PROBS)));
            }
        });
        cache.advance(prompt.length());
        return normed;
    }

    /** Cache tensors of layer i. */
    public List<DecoderAttention.CacheTensor> cacheTensors(int layer) {
        return decoder.cacheTensors(layer);
    }

    /** The embedding rows [ids.length · d] of token ids, read from the stored table. */
    public float[] embed(long[] ids) {
        int d = config.hiddenSize();
        float[] rows = new float[ids.length * d];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + ids[i] + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            }
            embed.rowsInto(ids[i], 1, rows, i * d);
        }
        return rows;
    }

    /**
     * One step: the new tokens' embeddings {@code h} [B·d] through every layer (each writing its cache tensors at
     * {@code cache.position()}), the final norm and the lm_head; returns the logits [B·vocab]. The cache then holds
     * the tokens and {@link StaticCache#advance}s.
     *
     * @param modality per sequence, {@code DecoderInput.VISUAL} or {@code TEXT}: which factors MLA's latent uses
     * @param sink     null, or receives each layer's attention probabilities (the probabilities buffer is reused)
     */
    public float[] logits(float[] h, int batch, StepRope rope, float[] modality, StaticCache cache, ProbsSink sink) {
        hidden(h, batch, rope, modality, cache, sink);
        if (profile != null) profile.start();
        norm(h, batch, finalNorm, h);
        float[] logits = decoder.logitsOf(h, batch);
        if (profile != null) profile.lap(StepProfile.Phase.LM_HEAD);
        return logits;
    }

    /** The layers of {@link #logits} without the final norm and lm_head: {@code h} [B·d] is updated in place. */
    public void hidden(float[] h, int batch, StepRope rope, float[] modality, StaticCache cache, ProbsSink sink) {
        if (cache.batch() != batch) throw new IllegalArgumentException("a cache of " + cache.batch() + " sequences cannot take a batch of " + batch);
        for (int i = 0; i < attention.length; i++) layer(i, h, batch, rope, modality, cache, sink);
        cache.advance(1);
    }

    /**
     * Decoder layer {@code i} for the new tokens {@code h} [B·d], in place: writes the layer's cache slot at
     * {@code cache.position()} (the caller {@link StaticCache#advance}s once every layer has run).
     */
    public void layer(int i, float[] h, int batch, StepRope rope, float[] modality, StaticCache cache, ProbsSink sink) {
        int d = config.hiddenSize();
        int ff = config.intermediateSize();
        x = LayerWeights.ensure(x, batch * d);
        delta = LayerWeights.ensure(delta, batch * d);
        gateOut = LayerWeights.ensure(gateOut, batch * ff);
        upOut = LayerWeights.ensure(upOut, batch * ff);
        float[] p = null;
        if (sink != null) {
            probs = LayerWeights.ensure(probs, batch * attention[i].heads() * cache.capacity());
            p = probs;
        }
        if (profile != null) profile.start();
        norm(h, batch, inputNorm[i], x);
        if (profile != null) profile.lap(StepProfile.Phase.NORMS);
        attention[i].run(x, batch, rope, modality, cache, i, delta, p, cache.capacity(), profile);
        for (int n = 0; n < batch * d; n++) h[n] += delta[n];
        norm(h, batch, postNorm[i], x);
        if (profile != null) profile.lap(StepProfile.Phase.NORMS);
        MatVec.apply(gate[i], x, batch, gateOut, null);
        MatVec.apply(up[i], x, batch, upOut, null);
        if (profile != null) profile.lap(StepProfile.Phase.MLP_GATE_UP);
        k.siluMul(gateOut, 0, upOut, 0, gateOut, 0, batch * ff);
        if (profile != null) profile.lap(StepProfile.Phase.MLP_ACT);
        MatVec.apply(down[i], gateOut, batch, delta, null);
        for (int n = 0; n < batch * d; n++) h[n] += delta[n];
        if (profile != null) profile.lap(StepProfile.Phase.MLP_DOWN);
        if (sink != null) sink.accept(i, new AttentionProbs(p, batch, attention[i].heads(), 1, cache.length(i), cache.capacity()));
    }

    /** RMSNorm of every row: w · x · rsqrt(mean(x²) + ε), in float32 as LlamaRMSNorm. */
    private void norm(float[] in, int batch, float[] weight, float[] out) {
        int d = weight.length;
        for (int b = 0; b < batch; b++) {
            int o = b * d;
            float inverseRms = (float) (1.0 / Math.sqrt(k.dot(in, o, in, o, d) / d + config.rmsNormEps()));
            for (int c = 0; c < d; c++) out[o + c] = weight[c] * (in[o + c] * inverseRms);
        }
    }
}
