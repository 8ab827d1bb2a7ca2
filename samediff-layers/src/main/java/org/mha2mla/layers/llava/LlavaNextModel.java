package org.mha2mla.layers.llava;

import java.util.ArrayList;
import java.util.List;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.MultimodalInput;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * LlavaNextForConditionalGeneration (e.g. llama3-llava-next-8b): every anyres tile through CLIP and the
 * projector, then pack_image_features: the base image's features first, then the tiles' features laid out as
 * one [rows·h, cols·w] grid, unpadded to the original aspect ratio, with {@code image_newline} appended to
 * every grid row. The decoder is the same Llama decoder (GQA, rope_theta from the config).
 */
public final class LlavaNextModel extends LlavaModel {

    static final String IMAGE_NEWLINE = "image_newline";

    /** A model over {@code weights} (canonical hub keys); the decoder's attention follows {@code conversion}. */
    public LlavaNextModel(LlavaConfig config, Mha2MlaConfig conversion, TensorSource weights) {
        super(config, conversion, weights, true);
        if (!config.isNext()) {
            throw new IllegalArgumentException("model_type llava: use LlavaModel");
        }
        if (!config.visionFeatureSelectStrategy().equals("default")) {
            // pack_image_features reshapes each tile to an h×w grid, which only holds without CLS.
            throw new IllegalArgumentException("LLaVA-NeXT packing needs vision_feature_select_strategy default, got "
                    + config.visionFeatureSelectStrategy());
        }
        // transformers always appends the learned image_newline (LlavaNextModel creates the parameter unconditionally).
        long[] shape = weights.contains(IMAGE_NEWLINE) ? weights.info(IMAGE_NEWLINE).shape() : null;
        if (shape == null || shape.length != 1 || shape[0] != config.textConfig().hiddenSize()) {
            throw new IllegalArgumentException("weight '" + IMAGE_NEWLINE + "' must have shape [" + config.textConfig().hiddenSize()
                    + "], got " + (shape == null ? "none" : java.util.Arrays.toString(shape)));
        }
    }

    @Override
    public LlavaNextModel with(Mha2MlaConfig conversion, TensorSource weights) {
        return new LlavaNextModel(config, conversion, weights);
    }

    @Override
    public INDArray imageFeatures(MultimodalInput input) {
        if (input.imageSizes() == null) {
            throw new IllegalArgumentException("llava_next needs image_sizes ([height, width] per image) with pixel_values");
        }
        return imageFeatures(input.pixelValues(), input.imageSizes());
    }

    /**
     * Packed image features [Σ tokens, d] for all images, in order.
     *
     * @param pixelValues [Σ tiles, C, S, S] (tiles of all images concatenated) or the processor's padded
     *                    [n_images, max_tiles, C, S, S], of which each image's first num_patches tiles are used
     * @param imageSizes  original [height, width] per image
     */
    public INDArray imageFeatures(INDArray pixelValues, int[][] imageSizes) {
        LlavaConfig c = config;
        int tileSize = c.visionConfig().imageSize();
        int[] tiles = new int[imageSizes.length];
        for (int i = 0; i < imageSizes.length; i++) {
            tiles[i] = AnyRes.numPatches(imageSizes[i], c.imageGridPinpoints(), tileSize);
        }
        INDArray flat = flattenTiles(pixelValues, tiles);
        INDArray projected = projectedFeatures(flat);
        INDArray newline;
        try (StoredTensor t = weights().stored(IMAGE_NEWLINE)) {
            newline = t.floats();
        }
        List<INDArray> packed = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < imageSizes.length; i++) {
            INDArray perImage = projected.get(NDArrayIndex.interval(start, start + tiles[i]), NDArrayIndex.all(), NDArrayIndex.all());
            packed.add(pack(perImage, imageSizes[i], newline));
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
    private INDArray pack(INDArray features, int[] imageSize, INDArray newline) {
        LlavaConfig c = config;
        long d = features.size(2);
        int side = c.visionConfig().patchesPerSide();
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
}
