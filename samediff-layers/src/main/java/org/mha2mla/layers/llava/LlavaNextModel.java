package org.mha2mla.layers.llava;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generation;
import org.mha2mla.layers.generation.GreedyGenerator;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * LlavaNextForConditionalGeneration (e.g. llama3-llava-next-8b): every anyres tile through CLIP and the
 * projector, then pack_image_features: the base image's features first, then the tiles' features laid out as
 * one [rows·h, cols·w] grid, unpadded to the original aspect ratio, with {@code image_newline} appended to
 * every grid row. The decoder is the same Llama graph (GQA, rope_theta from the config).
 */
public final class LlavaNextModel implements VisionLanguageModel {

    static final String IMAGE_NEWLINE = "image_newline";

    private final LlavaGraph graph;
    private final SDVariable imageNewline;

    /** Builds the model over a graph whose variables are the checkpoint tensors under canonical (hub) keys. */
    public LlavaNextModel(LlavaConfig config, SameDiff weights) {
        this(config, null, weights);
    }

    /** A converted model: the decoder's attention follows {@code conversion} (partial RoPE or MLA; null: original). */
    public LlavaNextModel(LlavaConfig config, Mha2MlaConfig conversion, SameDiff weights) {
        if (!config.isNext()) {
            throw new IllegalArgumentException("model_type llava: use LlavaModel");
        }
        if (!config.visionFeatureSelectStrategy().equals("default")) {
            // pack_image_features reshapes each tile to an h×w grid, which only holds without CLS.
            throw new IllegalArgumentException("LLaVA-NeXT packing needs vision_feature_select_strategy default, got "
                    + config.visionFeatureSelectStrategy());
        }
        this.graph = new LlavaGraph(config, conversion, weights);
        // transformers always appends the learned image_newline (LlavaNextModel creates the parameter unconditionally).
        this.imageNewline = Params.get(weights, IMAGE_NEWLINE, config.textConfig().hiddenSize());
    }

    /**
     * Loads a Hugging Face folder (config.json + model.safetensors or a sharded index): an original model, or one
     * converted by this project (its config's {@code mha2mla} section says how).
     */
    public static LlavaNextModel load(Path dir) {
        VlmConfig config = HfConfigParser.read(dir);
        if (!(config instanceof LlavaConfig llava) || !llava.isNext()) {
            throw new IllegalArgumentException(dir + "/config.json: model_type " + config.modelType() + " is not llava_next");
        }
        return new LlavaNextModel(llava, HfConfigParser.readConversion(dir), LlavaGraph.loadWeights(dir, llava));
    }

    @Override
    public LlavaConfig config() {
        return graph.config;
    }

    @Override
    public Mha2MlaConfig conversion() {
        return graph.conversion;
    }

    /**
     * Packed image features [Σ tokens, d] for all images, in order.
     *
     * @param pixelValues [Σ tiles, C, S, S] (tiles of all images concatenated) or the processor's padded
     *                    [n_images, max_tiles, C, S, S], of which each image's first num_patches tiles are used
     * @param imageSizes  original [height, width] per image
     */
    public INDArray imageFeatures(INDArray pixelValues, int[][] imageSizes) {
        LlavaConfig c = graph.config;
        int tileSize = c.visionConfig().imageSize();
        int[] tiles = new int[imageSizes.length];
        for (int i = 0; i < imageSizes.length; i++) {
            tiles[i] = AnyRes.numPatches(imageSizes[i], c.imageGridPinpoints(), tileSize);
        }
        INDArray flat = flattenTiles(pixelValues, tiles);
        INDArray projected = graph.projectedFeatures(flat);
        List<INDArray> packed = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < imageSizes.length; i++) {
            INDArray perImage = projected.get(NDArrayIndex.interval(start, start + tiles[i]), NDArrayIndex.all(), NDArrayIndex.all());
            packed.add(pack(perImage, imageSizes[i]));
            start += tiles[i];
        }
        return Nd4j.concat(0, packed.toArray(new INDArray[0]));
    }

    private INDArray flattenTiles(INDArray pixelValues, int[] tiles) {
        int total = 0;
        for (int t : tiles) total += t;
        if (pixelValues.rank() == 4) {
            if (pixelValues.size(0) != total) {
                throw new IllegalArgumentException("pixel_values holds " + pixelValues.size(0) + " tiles but image_sizes imply "
                        + total + " " + java.util.Arrays.toString(tiles));
            }
            return pixelValues;
        }
        if (pixelValues.rank() != 5 || pixelValues.size(0) != tiles.length) {
            throw new IllegalArgumentException("pixel_values must be [tiles, C, S, S] or [" + tiles.length
                    + " images, tiles, C, S, S], got " + java.util.Arrays.toString(pixelValues.shape()));
        }
        List<INDArray> parts = new ArrayList<>();
        for (int i = 0; i < tiles.length; i++) {
            if (pixelValues.size(1) < tiles[i]) {
                throw new IllegalArgumentException("image " + i + " needs " + tiles[i] + " tiles, pixel_values has " + pixelValues.size(1));
            }
            parts.add(pixelValues.get(NDArrayIndex.point(i), NDArrayIndex.interval(0, tiles[i]),
                    NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all()));
        }
        return Nd4j.concat(0, parts.toArray(new INDArray[0]));
    }

    /** pack_image_features for one image: features [tiles, h·w, d] → [tokens, d]. */
    private INDArray pack(INDArray features, int[] imageSize) {
        LlavaConfig c = graph.config;
        long d = features.size(2);
        int side = c.visionConfig().patchesPerSide();
        INDArray newline = imageNewline.getArr();
        if (features.size(0) == 1) {
            INDArray base = features.slice(0);
            return Nd4j.concat(0, base, newline.reshape(1, d));
        }
        INDArray base = features.slice(0);
        int[] grid = AnyRes.gridShape(imageSize, c.imageGridPinpoints(), c.visionConfig().imageSize());
        int rows = grid[0] * side;
        int cols = grid[1] * side;
        INDArray rest = features.get(NDArrayIndex.interval(1, features.size(0)), NDArrayIndex.all(), NDArrayIndex.all());
        if (rest.length() != (long) rows * cols * d) {
            throw new IllegalArgumentException("image " + java.util.Arrays.toString(imageSize) + ": " + rest.size(0)
                    + " tiles do not fill the anyres grid " + grid[0] + "x" + grid[1]);
        }
        // view(rows_t, cols_t, h, w, d).permute(4, 0, 2, 1, 3) → [d, rows_t·h, cols_t·w]
        INDArray spatial = rest.dup('c').reshape(grid[0], grid[1], side, side, d)
                .permute(4, 0, 2, 1, 3).dup('c').reshape(d, rows, cols);
        int[] r = AnyRes.unpadRanges(imageSize, rows, cols);
        INDArray unpadded = spatial.get(NDArrayIndex.all(), NDArrayIndex.interval(r[0], r[1]), NDArrayIndex.interval(r[2], r[3]));
        long h = unpadded.size(1);
        long w = unpadded.size(2);
        INDArray column = newline.reshape(d, 1, 1).broadcast(d, h, 1);
        unpadded = Nd4j.concat(2, unpadded, column);
        w += 1;
        INDArray tokens = unpadded.dup('c').reshape(d, h * w).transpose();
        return Nd4j.concat(0, base, tokens);
    }

    /** The decoder input for one prompt: embeddings with packed image features merged, positions 0..L−1, causal mask. */
    public DecoderInput decoderInput(MultimodalInput input) {
        LlavaGraph.requireNoGridInputs(input, "llava_next");
        INDArray features = null;
        if (input.hasImage()) {
            if (input.imageSizes() == null) {
                throw new IllegalArgumentException("llava_next needs image_sizes ([height, width] per image) with pixel_values");
            }
            features = imageFeatures(input.pixelValues(), input.imageSizes());
        }
        return graph.decoderInput(input.inputIds(), graph.inputsEmbeds(input.inputIds(), features));
    }

    @Override
    public INDArray logits(MultimodalInput input) {
        return graph.logits(decoderInput(input));
    }

    @Override
    public INDArray hiddenStates(MultimodalInput input) {
        return graph.hiddenStates(decoderInput(input));
    }

    @Override
    public long[] generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos) {
        return graph.generate(decoderInput(input), maxNewTokens, stopAtEos);
    }

    @Override
    public Generation generate(MultimodalInput input, int maxNewTokens, boolean stopAtEos, CachePolicy policy,
                               Predicate<long[]> stopWhen) {
        return graph.generate(decoderInput(input), maxNewTokens, stopAtEos, policy, stopWhen);
    }

    @Override
    public long kvCacheBytesPerToken() {
        return graph.kvCacheBytesPerToken();
    }

    public TextDecoder decoder() {
        return graph.decoder;
    }

    public GreedyGenerator generator() {
        return graph.generator;
    }

    public SameDiff sameDiff() {
        return graph.sd;
    }
}
