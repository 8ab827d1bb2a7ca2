package org.mha2mla.layers.text;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;

import org.mha2mla.importers.weights.TensorSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.array.SingleThreadArrayHolder;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Looks up a weight the model loader already created in a SameDiff graph under its checkpoint key, and checks its
 * shape. Graph builders never create weights themselves: the loader (or the MLA converter) puts every tensor into
 * the graph under the key it is saved under, so freezing by name pattern and writing a checkpoint back are a walk
 * over {@code sd.variables()}. A weight may also be a placeholder of that name (the one-layer graphs of
 * {@link LayerwiseDecoder}, fed one layer's weights per run): the builders do not see the difference.
 */
public final class Params {

    private Params() {
    }

    /**
     * Creates one float32 variable per tensor of {@code weights}, named with its key, in a new graph. Unused
     * tensors (e.g. CLIP's post_layernorm) become variables too, so the graph's variables are the checkpoint.
     */
    public static SameDiff load(TensorSource weights) {
        SameDiff sd = newGraph();
        for (String key : weights.names()) {
            sd.var(key, weights.get(key));
        }
        return sd;
    }

    /**
     * An empty graph as every graph of the project starts: one copy of each array (the default ThreadSafeArrayHolder
     * keeps a second: DeviceLocalNDArray stores a dup) and {@link OneDnnHelpers} attached.
     */
    public static SameDiff newGraph() {
        SameDiff sd = SameDiff.create();
        sd.setArrayHolders(new SingleThreadArrayHolder(), new SingleThreadArrayHolder(), false);
        OneDnnHelpers.attachTo(sd);
        return sd;
    }

    /** The variable named {@code key}, which must have exactly {@code expectedShape}. */
    public static SDVariable get(SameDiff sd, String key, long... expectedShape) {
        if (!sd.hasVariable(key)) {
            throw new IllegalArgumentException("weight '" + key + "' is missing from the checkpoint (expected shape "
                    + Arrays.toString(expectedShape) + ")");
        }
        SDVariable v = sd.getVariable(key);
        long[] actual = v.isPlaceHolder() ? v.placeholderShape() : v.getArr().shape();
        if (!Arrays.equals(actual, expectedShape)) {
            throw new IllegalArgumentException("weight '" + key + "' has shape " + Arrays.toString(actual)
                    + " but the config implies " + Arrays.toString(expectedShape));
        }
        return v;
    }

    /**
     * Declares every tensor of {@code weights} whose key starts with {@code prefix} as a float32 placeholder of its
     * shape in {@code sd}, so that a graph builder can be run over weights fed per call.
     */
    public static List<String> placeholders(SameDiff sd, TensorSource weights, String prefix) {
        return placeholders(sd, weights, key -> key.startsWith(prefix));
    }

    /** Like {@link #placeholders(SameDiff, TensorSource, String)} for the keys {@code keep} accepts. */
    public static List<String> placeholders(SameDiff sd, TensorSource weights, Predicate<String> keep) {
        List<String> names = new ArrayList<>();
        for (String key : weights.names()) {
            if (!keep.test(key)) continue;
            sd.placeHolder(key, DataType.FLOAT, weights.info(key).shape());
            names.add(key);
        }
        return names;
    }

    /** The variable if the checkpoint has it (optional biases), else null; shape-checked like {@link #get}. */
    public static SDVariable optional(SameDiff sd, String key, long... expectedShape) {
        return sd.hasVariable(key) ? get(sd, key, expectedShape) : null;
    }
}
