package org.mha2mla.layers.vision;

import java.util.Arrays;
import java.util.Map;

import org.mha2mla.core.config.ClipVisionConfig;
import org.mha2mla.layers.text.BlockRunner;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The CLIP vision tower of {@link ClipVisionTower} run one graph at a time over weights that stay in their stored
 * dtype ({@link BlockRunner}): the embeddings (patch matmul, CLS, positions, pre_layrnorm), then each encoder layer
 * up to the selected hidden state, then the feature selection (a slice), each graph built by the same builders as the
 * whole-tower graph over placeholder weights; one encoder-layer graph serves every layer. Only one encoder layer's weights are float32 at a time (12.6 M
 * parameters for ViT-L/14), instead of the whole tower (303 M).
 *
 * <p>A batch of N images or tiles [N, C, S, S] runs as one batch through every layer (attention stays within an image).
 */
public final class LayerwiseClipVisionTower {

    static final String X = "x";
    static final String OUT = "out";

    private final BlockRunner runner;
    private final ClipVisionConfig config;
    private final String prefix;
    private final int selectedIndex;
    private final String selectStrategy;
    private BlockRunner.Block embeddings;
    /** The encoder-layer graph, built over layer 0's keys and fed each layer's weights in turn. */
    private BlockRunner.Block layer;

    /**
     * @param runner             reads the weights (under canonical keys) and holds the float32 buffers
     * @param prefix             key prefix of the CLIPVisionTransformer, e.g. {@code vision_tower.vision_model.}
     * @param visionFeatureLayer index into the hidden states (embeddings after pre_layrnorm, then each layer); negative counts from the end
     * @param selectStrategy     "default" drops CLS, "full" keeps it
     */
    public LayerwiseClipVisionTower(BlockRunner runner, ClipVisionConfig config, String prefix, int visionFeatureLayer,
                                    String selectStrategy) {
        this.runner = runner;
        this.config = config;
        this.prefix = prefix;
        this.selectedIndex = ClipVisionTower.selectedIndex(config, visionFeatureLayer);
        if (!selectStrategy.equals("default") && !selectStrategy.equals("full")) {
            throw new IllegalArgumentException("vision_feature_select_strategy must be default or full, got " + selectStrategy);
        }
        this.selectStrategy = selectStrategy;
    }

    public ClipVisionConfig config() {
        return config;
    }

    /** Number of encoder layers run (the selected hidden state's index). */
    public int layersRun() {
        return selectedIndex;
    }

    /** Selected features [N, P, hidden] of {@code pixelValues} [N, C, S, S] (P = patches, +1 with CLS for "full"). */
    public INDArray features(INDArray pixelValues) {
        long s = config.imageSize();
        if (pixelValues.rank() != 4 || pixelValues.size(1) != config.numChannels() || pixelValues.size(2) != s || pixelValues.size(3) != s) {
            throw new IllegalArgumentException("pixel_values must be [N, " + config.numChannels() + ", " + s + ", " + s + "], got "
                    + Arrays.toString(pixelValues.shape()));
        }
        // A fresh c-order float copy: views (offsets, strides) fed as placeholders are not read correctly.
        INDArray pixels = pixelValues.castTo(DataType.FLOAT).dup('c');
        INDArray h = embeddings(pixels);
        for (int i = 0; i < selectedIndex; i++) h = layer(i, h);
        return selected(h);
    }

    /** Hidden state 0 [N, 1 + P, hidden]: the embeddings after pre_layrnorm. */
    public INDArray embeddings(INDArray pixels) {
        if (embeddings == null) {
            embeddings = runner.block(prefix, k -> k.startsWith(prefix + "embeddings.") || k.startsWith(prefix + "pre_layrnorm."));
            SameDiff sd = embeddings.sd();
            sd.identity(OUT, ClipVisionTower.embeddings(sd, config, prefix, ClipVisionTower.pixelValues(sd, config)));
        }
        return runner.run(embeddings, Map.of(ClipVisionTower.PIXEL_VALUES, pixels), OUT).get(OUT);
    }

    /** Encoder layer i on hidden states [N, T, hidden]: hidden state i + 1. */
    public INDArray layer(int i, INDArray h) {
        if (layer == null) {
            String key = ClipVisionTower.layerKey(prefix, 0);
            layer = runner.block(key + ".");
            SameDiff sd = layer.sd();
            SDVariable x = sd.placeHolder(X, DataType.FLOAT, -1, -1, config.hiddenSize());
            ClipVisionTower.encoderLayer(sd, config, key, "vision/layer", OUT, x);
        }
        return runner.run(layer, ClipVisionTower.layerKey(prefix, i) + ".", Map.of(X, h), OUT).get(OUT);
    }

    /** vision_feature_select_strategy: "default" drops the CLS row of every image, "full" keeps it. */
    private INDArray selected(INDArray h) {
        if (selectStrategy.equals("full")) return h;
        return h.get(NDArrayIndex.all(), NDArrayIndex.interval(1, h.size(1)), NDArrayIndex.all()).dup('c');
    }
}
