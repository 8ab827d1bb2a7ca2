package org.mha2mla.importers.image;

import java.nio.file.Path;
import java.util.List;

import org.mha2mla.importers.config.JsonFields;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * transformers' {@code CLIPImageProcessor} (LLaVA-1.5): resize so the shortest edge is {@code size.shortest_edge}
 * (aspect kept, long edge truncated as {@code get_resize_output_image_size} does), centre crop to
 * {@code crop_size}, rescale, normalise → {@code [3, crop_h, crop_w]} floats per image.
 */
public final class ClipImageProcessor {

    private final boolean doResize;
    private final PreprocessorConfig.Size size;
    private final Resampler.Resampling resample;
    private final boolean doCenterCrop;
    private final int cropHeight;
    private final int cropWidth;
    private final Normalization normalization;

    ClipImageProcessor(boolean doResize, PreprocessorConfig.Size size, Resampler.Resampling resample, boolean doCenterCrop,
                       int cropHeight, int cropWidth, Normalization normalization) {
        this.doResize = doResize;
        this.size = size;
        this.resample = resample;
        this.doCenterCrop = doCenterCrop;
        this.cropHeight = cropHeight;
        this.cropWidth = cropWidth;
        this.normalization = normalization;
    }

    /** Reads {@code preprocessor_config.json} (or processor_config.json's image_processor) of a model folder. */
    /** The torchvision backend's results (transformers 5's default); see {@link Resampler}. */
    public static ClipImageProcessor load(Path modelDir) {
        return load(modelDir, Resampler.Backend.TORCHVISION);
    }

    public static ClipImageProcessor load(Path modelDir, Resampler.Backend backend) {
        JsonFields f = PreprocessorConfig.read(modelDir);
        PreprocessorConfig.expectType(f, "CLIPImageProcessor");
        return fromJson(f, backend);
    }

    /** The settings of one image-processor JSON object; {@code size} and (when cropping) {@code crop_size} are required. */
    static ClipImageProcessor fromJson(JsonFields f, Resampler.Backend backend) {
        boolean doResize = f.bool("do_resize", true);
        PreprocessorConfig.Size size = PreprocessorConfig.size(f, "size", false);
        boolean doCenterCrop = f.bool("do_center_crop", true);
        int ch = 0;
        int cw = 0;
        if (doCenterCrop) {
            PreprocessorConfig.Size crop = PreprocessorConfig.size(f, "crop_size", true);
            if (!crop.isExact()) throw f.error("crop_size", "must give height and width, got " + f.node().get("crop_size"));
            ch = crop.height();
            cw = crop.width();
        }
        return new ClipImageProcessor(doResize, size, PreprocessorConfig.resample(f, backend), doCenterCrop, ch, cw,
                PreprocessorConfig.normalization(f));
    }

    /** Pixel values {@code [n, 3, H, W]} of the images (all must come out the same size, as transformers stacks them). */
    public INDArray preprocess(List<RgbImage> images) {
        if (images.isEmpty()) throw new IllegalArgumentException("no images to preprocess");
        RgbImage first = geometry(images.get(0));
        int h = first.height();
        int w = first.width();
        float[] out = new float[images.size() * 3 * h * w];
        for (int i = 0; i < images.size(); i++) {
            RgbImage img = i == 0 ? first : geometry(images.get(i));
            if (img.height() != h || img.width() != w) {
                throw new ImageException("image " + i + " becomes " + img.height() + "x" + img.width() + " but image 0 "
                        + h + "x" + w + ": without center crop images of different aspect cannot be batched");
            }
            normalization.apply(img, out, i * 3 * h * w);
        }
        return Nd4j.create(out, new long[]{images.size(), 3, h, w}, 'c');
    }

    /** The uint8 image after resize and centre crop (before rescale/normalise). */
    public RgbImage geometry(RgbImage img) {
        if (doResize) img = resize(img, size, resample);
        if (doCenterCrop) img = centerCrop(img, cropHeight, cropWidth);
        return img;
    }

    Normalization normalization() {
        return normalization;
    }

    /**
     * transformers' resize for a {@code size} dict: exact height × width, or shortest edge {@code s} with the long
     * edge {@code int(s · long / short)} (get_resize_output_image_size, default_to_square=False).
     */
    static RgbImage resize(RgbImage img, PreprocessorConfig.Size size, Resampler.Resampling resampling) {
        if (size.isExact()) return resampling.resize(img, size.width(), size.height());
        int[] hw = shortestEdgeSize(img.height(), img.width(), size.shortestEdge());
        return resampling.resize(img, hw[1], hw[0]);
    }

    /** get_resize_output_image_size(size=int, default_to_square=False) → [height, width]. */
    public static int[] shortestEdgeSize(int height, int width, int shortestEdge) {
        boolean portrait = width <= height;
        int shortSide = portrait ? width : height;
        int longSide = portrait ? height : width;
        int newLong = (int) ((double) ((long) shortestEdge * longSide) / shortSide);
        return portrait ? new int[]{newLong, shortestEdge} : new int[]{shortestEdge, newLong};
    }

    /**
     * The torchvision backend's centre crop (transformers 5's default): top/left {@code int((H − h) / 2)}; an image
     * smaller than the crop is first zero padded by {@code (h − H) // 2} before and the rest after.
     */
    static RgbImage centerCrop(RgbImage img, int cropHeight, int cropWidth) {
        int top = img.height() >= cropHeight ? (img.height() - cropHeight) / 2 : -((cropHeight - img.height()) / 2);
        int left = img.width() >= cropWidth ? (img.width() - cropWidth) / 2 : -((cropWidth - img.width()) / 2);
        return img.crop(left, top, cropWidth, cropHeight);
    }

    public int cropHeight() {
        return cropHeight;
    }

    public int cropWidth() {
        return cropWidth;
    }
}
