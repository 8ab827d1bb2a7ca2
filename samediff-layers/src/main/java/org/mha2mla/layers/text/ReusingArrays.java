package org.mha2mla.layers.text;

import org.nd4j.autodiff.samediff.internal.memory.AbstractMemoryMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A SameDiff session memory manager that hands out arrays it held before where it can: SameDiff's two allocation
 * entry points, both sent to {@link #take}, and the counts of what was reused and allocated. {@link PassArrays} (one
 * gradient pass's arrays for the next of the same shapes) and {@link ActivationPool} (released buffers for any request
 * of their length) decide what a request gets.
 */
abstract class ReusingArrays extends AbstractMemoryMgr {

    /** Arrays handed out that this manager held before. */
    protected long reused;
    /** Arrays allocated fresh. */
    protected long allocated;

    /** Arrays handed out that this manager held before, so far. */
    public long reused() {
        return reused;
    }

    /** Arrays allocated fresh so far. */
    public long allocated() {
        return allocated;
    }

    @Override
    public INDArray allocate(boolean detached, DataType dataType, long... shape) {
        return take(dataType, 'c', shape);
    }

    @Override
    public INDArray allocate(boolean detached, LongShapeDescriptor descriptor) {
        if (descriptor.isEmpty()) return Nd4j.create(descriptor);
        return take(descriptor.dataType(), descriptor.getOrder(), descriptor.getShape());
    }

    /** An uninitialised array of this data type, order and shape: one held before, or a fresh one. */
    protected abstract INDArray take(DataType dataType, char order, long[] shape);
}
