package org.mha2mla.importers.weights;

import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.importers.safetensors.TensorInfo;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Named tensors of a checkpoint, read on demand. Model builders ask for each weight by its checkpoint key;
 * nothing is loaded until {@link #get} is called. Errors are
 * {@link org.mha2mla.importers.safetensors.SafeTensorsException}s naming the file and the key.
 */
public interface TensorSource extends AutoCloseable {
    /** All keys, in a stable order (header order for one file, weight_map order for a sharded index). */
    Set<String> names();

    /** dtype, shape and byte range of a key (the range is within the file that holds it). */
    TensorInfo info(String name);

    /** The tensor as float32 in its stored shape. */
    INDArray get(String name);

    /**
     * The tensor in its stored precision without a copy where the source allows (a checkpoint maps its file);
     * the caller closes it when done, which releases the mapping. The default wraps {@link #get}.
     */
    default StoredTensor stored(String name) {
        return StoredTensor.of(name, get(name));
    }

    /** An integer (I64/I32/I16/I8/U8/BOOL) tensor, flat in c order, values exact. */
    long[] getLongs(String name);

    boolean contains(String name);

    /** Where the tensors come from (a path), for error messages. */
    String description();

    /** Closes the underlying files; never throws a checked exception. */
    @Override
    void close();

    /** The tensors of {@code src} whose keys {@code keep} accepts (a view: nothing is read; closing it closes nothing). */
    static TensorSource subset(TensorSource src, java.util.function.Predicate<String> keep) {
        java.util.Set<String> names = new java.util.LinkedHashSet<>();
        for (String n : src.names()) if (keep.test(n)) names.add(n);
        java.util.Set<String> view = java.util.Collections.unmodifiableSet(names);
        return new TensorSource() {
            private String require(String name) {
                if (!view.contains(name)) throw new org.mha2mla.importers.safetensors.SafeTensorsException(description() + ": no tensor '" + name + "'");
                return name;
            }
            @Override public Set<String> names() { return view; }
            @Override public TensorInfo info(String name) { return src.info(require(name)); }
            @Override public INDArray get(String name) { return src.get(require(name)); }
            @Override public StoredTensor stored(String name) { return src.stored(require(name)); }
            @Override public long[] getLongs(String name) { return src.getLongs(require(name)); }
            @Override public boolean contains(String name) { return view.contains(name); }
            @Override public String description() { return src.description(); }
            @Override public void close() { }
        };
    }

    /**
     * Writer entries that stream every tensor of {@code src} (one tensor in memory at a time): floating tensors
     * stored as {@code floatStorage}, integer ones in their own dtype with exact values.
     */
    static List<SafeTensorsWriter.Entry> entries(TensorSource src, DType floatStorage) {
        List<SafeTensorsWriter.Entry> out = new ArrayList<>();
        for (String name : src.names()) {
            TensorInfo t = src.info(name);
            if (t.dtype().isFloating()) {
                out.add(new SafeTensorsWriter.Entry(name, floatStorage, t.shape(), () -> src.get(name)));
            } else {
                out.add(new SafeTensorsWriter.Entry(name, t.dtype(), t.shape(), () -> {
                    long[] shape = t.shape();
                    INDArray a = Nd4j.createFromArray(src.getLongs(name));
                    return shape.length == 1 ? a : a.reshape('c', shape);
                }));
            }
        }
        return out;
    }
}
