package org.mha2mla.trainer;

import java.util.Arrays;

import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Training examples made from the fixtures' golden processor outputs (input_ids, pixel_values, image_grid_thw as
 * transformers' processor produced them), with the last {@code supervised} tokens labelled as if they were the
 * assistant's reply. Lets the trainer be tested on real processed inputs without a tokenizer.
 */
final class GoldenExamples {

    private GoldenExamples() {
    }

    /** Case {@code c} ("c0" with an image, "c1" text only) of fixture {@code name}. */
    static TrainingExample example(String name, String c, int supervised) {
        try (SafeTensorsFile g = SafeTensorsFile.open(TestFixtures.dir(name).resolve("golden.safetensors"))) {
            long[] ids = g.readLongs(c + ".input_ids");
            INDArray pixels = g.contains(c + ".pixel_values") ? g.readFloat32(c + ".pixel_values") : null;
            int[][] grid = null;
            if (pixels != null && g.contains(c + ".image_grid_thw")) {
                long[] thw = g.readLongs(c + ".image_grid_thw");
                grid = new int[][]{{(int) thw[0], (int) thw[1], (int) thw[2]}};
            }
            long[] labels = new long[ids.length];
            Arrays.fill(labels, LossMask.IGNORE_INDEX);
            for (int i = ids.length - supervised; i < ids.length; i++) labels[i] = ids[i];
            return new TrainingExample(name + "/" + c, new MultimodalInput(ids, pixels, null, grid), labels);
        }
    }
}
