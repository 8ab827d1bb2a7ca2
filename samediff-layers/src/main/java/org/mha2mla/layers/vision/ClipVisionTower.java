package org.mha2mla.layers.vision;

import java.util.Map;

import org.mha2mla.core.config.ClipVisionConfig;
import org.mha2mla.layers.text.Activations;
import org.mha2mla.layers.text.Heads;
import org.mha2mla.layers.text.Linear;
import org.mha2mla.layers.text.Params;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * CLIPVisionTransformer as LLaVA uses it (modeling_clip.py): patch embedding, CLS token, position embedding,
 * pre_layrnorm, then pre-LN encoder layers; LLaVA reads the hidden state {@code vision_feature_layer}
 * (−2: the input of the last layer) and drops CLS for the "default" strategy. post_layernorm and the
 * encoder layers past the selected one do not influence the features, so they are not built (their weights
 * stay in the graph as variables for the saver).
 *
 * <p>Placeholder {@link #PIXEL_VALUES} [N, C, S, S]; output {@link #FEATURES} [N, P, hidden] with P = patches
 * (+1 with CLS for "full"); {@link #hiddenState(int)} names the hidden states that were built. This graph holds the
 * whole tower (the reference); {@link LayerwiseClipVisionTower} runs the same pieces ({@link #embeddings},
 * {@link #encoderLayer}, {@link #select}) one graph at a time over weights in their stored dtype.
 */
public final class ClipVisionTower {

    public static final String PIXEL_VALUES = "pixel_values";
    public static final String FEATURES = "vision/features";

    private final SameDiff sd;
    private final ClipVisionConfig config;
    private final int selectedIndex;

    /**
     * @param prefix             key prefix of the CLIPVisionTransformer, e.g. {@code vision_tower.vision_model.}
     * @param visionFeatureLayer index into the hidden states (embeddings after pre_layrnorm, then each layer); negative counts from the end
     * @param selectStrategy     "default" drops CLS, "full" keeps it
     */
    public ClipVisionTower(SameDiff sd, ClipVisionConfig config, String prefix, int visionFeatureLayer, String selectStrategy) {
        this.sd = sd;
        this.config = config;
        this.selectedIndex = selectedIndex(config, visionFeatureLayer);
        SDVariable h = embeddings(sd, config, prefix, pixelValues(sd, config));
        for (int i = 0; i < selectedIndex; i++) {
            h = encoderLayer(sd, config, layerKey(prefix, i), "vision/layers." + i, hiddenState(i + 1), h);
        }
        select(sd, FEATURES, h, selectStrategy);
    }

    /**
     * The index into the hidden states (embeddings after pre_layrnorm, then each layer) that {@code visionFeatureLayer}
     * names; negative counts from the end. The encoder layers at and past it are never run.
     */
    public static int selectedIndex(ClipVisionConfig config, int visionFeatureLayer) {
        int states = config.numHiddenLayers() + 1;
        int index = visionFeatureLayer < 0 ? states + visionFeatureLayer : visionFeatureLayer;
        if (index < 0 || index >= states) {
            throw new IllegalArgumentException("vision_feature_layer " + visionFeatureLayer + " is outside the "
                    + states + " hidden states of a " + config.numHiddenLayers() + "-layer CLIP tower");
        }
        return index;
    }

    /** Key prefix of encoder layer i, e.g. {@code vision_tower.vision_model.encoder.layers.3}. */
    public static String layerKey(String prefix, int layer) {
        return prefix + "encoder.layers." + layer;
    }

    /** The {@link #PIXEL_VALUES} placeholder [N, C, S, S]. */
    static SDVariable pixelValues(SameDiff sd, ClipVisionConfig config) {
        long c = config.numChannels();
        long s = config.imageSize();
        return sd.placeHolder(PIXEL_VALUES, DataType.FLOAT, -1, c, s, s);
    }

    /** vision_feature_select_strategy on hidden states [N, 1 + P, hidden]: "default" drops CLS, "full" keeps it. */
    static SDVariable select(SameDiff sd, String name, SDVariable h, String selectStrategy) {
        return switch (selectStrategy) {
            case "default" -> sd.stridedSlice(name, h, new long[]{0, 1, 0}, new long[]{0, 0, 0}, new long[]{1, 1, 1},
                    0b101, 0b111, 0, 0, 0);
            case "full" -> sd.identity(name, h);
            default -> throw new IllegalArgumentException("vision_feature_select_strategy must be default or full, got " + selectStrategy);
        };
    }

    /** Node name of hidden state {@code index} (0 = embeddings after pre_layrnorm); built up to the selected one. */
    public static String hiddenState(int index) {
        return "vision/hidden_states." + index;
    }

    public int selectedIndex() {
        return selectedIndex;
    }

    /**
     * CLIPVisionEmbeddings then pre_layrnorm: hidden state 0 [N, 1 + g², hidden] of pixels [N, C, S, S]. The stride-p
     * convolution is a matmul over unfolded p×p patches: [N, C, g·p, g·p] → [N, g, g, C, p, p] → [N, g², C·p²], times
     * the conv weight flattened to [hidden, C·p²] (same C, y, x order). Weights {@code prefix + embeddings.*} and
     * {@code prefix + pre_layrnorm.*}.
     */
    static SDVariable embeddings(SameDiff sd, ClipVisionConfig config, String prefix, SDVariable pixels) {
        long c = config.numChannels();
        long p = config.patchSize();
        long g = config.patchesPerSide();
        long hidden = config.hiddenSize();
        SDVariable conv = Params.get(sd, prefix + "embeddings.patch_embedding.weight", hidden, c, p, p);
        SDVariable cls = Params.get(sd, prefix + "embeddings.class_embedding", hidden);
        SDVariable pos = Params.get(sd, prefix + "embeddings.position_embedding.weight", config.numPositions(), hidden);

        SDVariable patches = sd.reshape(sd.permute(sd.reshape(pixels, -1, c, g, p, g, p), 0, 2, 4, 1, 3, 5), -1, g * g, c * p * p);
        SDVariable patchEmbeds = sd.tensorMmul("vision/patch_embeds", patches, sd.reshape(conv, hidden, c * p * p),
                new int[]{-1}, new int[]{1}, false, false, false);
        // class_embedding.expand(N, 1, hidden): tile by the run-time image count.
        SDVariable n = sd.slice(pixels.shape(), new int[]{0}, 1);
        SDVariable repeats = sd.concat(0, n, sd.constant(Nd4j.createFromArray(1L, 1L)));
        SDVariable clsTokens = sd.tile(sd.reshape(cls, 1, 1, hidden), repeats);
        SDVariable embeddings = sd.concat(1, clsTokens, patchEmbeds).add("vision/embeddings", pos);
        return new LayerNorm(sd, prefix + "pre_layrnorm", hidden, config.layerNormEps()).forward(hiddenState(0), embeddings);
    }

    /**
     * CLIPEncoderLayer {@code key} (e.g. {@code vision_tower.vision_model.encoder.layers.0}): h + attn(layer_norm1(h)),
     * then h + mlp(layer_norm2(h)), on x [N, T, hidden]; nodes named under {@code scope}, the output {@code outName}.
     */
    static SDVariable encoderLayer(SameDiff sd, ClipVisionConfig config, String key, String scope, String outName, SDVariable x) {
        long d = config.hiddenSize();
        int heads = config.numAttentionHeads();
        int dH = config.headDim();
        double eps = config.layerNormEps();
        SDVariable normed = new LayerNorm(sd, key + ".layer_norm1", d, eps).forward(scope + "/layer_norm1", x);

        SDVariable q = Heads.split(sd, scope + "/q", Linear.of(sd, key + ".self_attn.q_proj", d, d, true).forward(scope + "/q_proj", normed), heads, dH);
        SDVariable k = Heads.split(sd, scope + "/k", Linear.of(sd, key + ".self_attn.k_proj", d, d, true).forward(scope + "/k_proj", normed), heads, dH);
        SDVariable v = Heads.split(sd, scope + "/v", Linear.of(sd, key + ".self_attn.v_proj", d, d, true).forward(scope + "/v_proj", normed), heads, dH);
        SDVariable scores = sd.mmul(q, k, false, true, false).mul(1.0 / Math.sqrt(dH));
        SDVariable attn = Heads.merge(sd, scope + "/attn", sd.mmul(sd.nn().softmax(scores, -1), v), heads, dH);
        SDVariable h = x.add(Linear.of(sd, key + ".self_attn.out_proj", d, d, true).forward(scope + "/out_proj", attn));

        SDVariable normed2 = new LayerNorm(sd, key + ".layer_norm2", d, eps).forward(scope + "/layer_norm2", h);
        SDVariable mlp = Linear.of(sd, key + ".mlp.fc1", d, config.intermediateSize(), true).forward(scope + "/fc1", normed2);
        mlp = Activations.apply(sd, config.hiddenAct(), scope + "/act", mlp);
        mlp = Linear.of(sd, key + ".mlp.fc2", config.intermediateSize(), d, true).forward(scope + "/fc2", mlp);
        return h.add(outName, mlp);
    }

    /** Selected features [N, P, hidden] of {@code pixelValues} [N, C, S, S]. */
    public INDArray features(INDArray pixelValues) {
        return sd.output(Map.of(PIXEL_VALUES, pixelValues), FEATURES).get(FEATURES);
    }
}
