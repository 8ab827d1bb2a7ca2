package org.mha2mla.importers.weights;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsException;
import org.mha2mla.importers.safetensors.TensorInfo;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Tensors held in memory under their keys: the weights of a model computed in this process (a conversion or a
 * training run) before or instead of being written. Floating arrays are presented as float32 ({@link #info} says
 * F32, {@link #stored} views the array without a copy when it is float32 and c-ordered).
 */
public final class ArraySource implements TensorSource {

    private final Map<String, INDArray> tensors;
    private final String description;

    /** The given arrays, in the map's iteration order; they must not change while the source is read. */
    public ArraySource(Map<String, INDArray> tensors, String description) {
        this.tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
        this.description = description;
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public TensorInfo info(String name) {
        INDArray a = require(name);
        DType d = a.dataType().isFPType() ? DType.F32 : a.dataType() == DataType.BOOL ? DType.BOOL : DType.I64;
        long bytes = a.length() * d.size();
        return new TensorInfo(name, d, a.shape(), 0, bytes);
    }

    @Override
    public INDArray get(String name) {
        INDArray a = require(name);
        return a.dataType() == DataType.FLOAT ? a : a.castTo(DataType.FLOAT);
    }

    @Override
    public StoredTensor stored(String name) {
        return StoredTensor.of(name, require(name));
    }

    @Override
    public long[] getLongs(String name) {
        return require(name).castTo(DataType.LONG).data().asLong();
    }

    @Override
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public void close() {
    }

    private INDArray require(String name) {
        INDArray a = tensors.get(name);
        if (a == null) {
            throw new SafeTensorsException(description + ": no tensor '" + name + "' (" + tensors.size() + " tensors, e.g. "
                    + Checkpoint.examples(tensors.keySet()) + ")");
        }
        return a;
    }
}
