package org.mha2mla.layers.text;

import java.util.ArrayDeque;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The memory manager of {@link BlockRunner}'s inference passes: an op output is placed in a buffer that an earlier op
 * released, of any shape with the same data type and number of elements, and a fresh array is allocated only when no
 * such buffer is free. The free buffers are bounded by a byte budget, the oldest closed first.
 *
 * <p>Why: a fresh off-heap array costs its allocation, ND4J's zero-fill and the first touch of every page, about
 * 1 GB/s on the benchmark machines. SameDiff M2.1's own {@code ArrayCacheMemoryMgr} reuses an array only for the exact
 * shape and, on a long prompt, missed many of the large ones: a 2,959-token LLaVA-NeXT prefill in query blocks
 * allocated about 1.6 GB afresh per decoder layer, mostly attention arrays at three key lengths (48–134 MB each),
 * which took 1.6–2.2 s of a 12 s layer, and a budget four times the usual did not help (benchmarks/scale). Matched by
 * element count, one buffer serves every request of its size whatever the shape, and a budget that holds one layer's
 * distinct sizes keeps them for the next layer, whose shapes are the same.
 *
 * <p>A buffer is handed out whole, as an array over all of it (never a view of part of it, which ND4J treats
 * differently from an array of its own). A released array whose buffer another view still shares (a reshape of it is
 * alive) is not reused. The pool keeps no reference to the arrays it hands out: those the session never releases (a
 * pass's outputs) are freed by the garbage collector once the caller drops them. Not thread-safe: one pass at a time,
 * as its runner.
 */
public final class ActivationPool extends ReusingArrays {

    private final long budgetBytes;
    /** Free buffers by data type and length, each list oldest first. */
    private final Map<String, ArrayDeque<DataBuffer>> free = new HashMap<>();
    /** Every free buffer, oldest first: the order of eviction. */
    private final ArrayDeque<DataBuffer> oldestFirst = new ArrayDeque<>();
    /** The same buffers, to refuse a second release of one (it would be handed out twice). */
    private final Set<DataBuffer> isFree = Collections.newSetFromMap(new IdentityHashMap<>());
    private long freeBytes;

    /** A pool whose free buffers take at most {@code budgetBytes}. */
    public ActivationPool(long budgetBytes) {
        if (budgetBytes < 0) throw new IllegalArgumentException("activation pool budget must be >= 0 bytes, got " + budgetBytes);
        this.budgetBytes = budgetBytes;
    }

    /** Bytes held in free buffers now. */
    public long freeBytes() {
        return freeBytes;
    }

    @Override
    protected INDArray take(DataType dataType, char order, long[] shape) {
        if (shape.length == 0) return Nd4j.createUninitializedDetached(dataType);
        long length = 1;
        for (long s : shape) length *= s;
        ArrayDeque<DataBuffer> q = free.get(key(dataType, length));
        DataBuffer buffer = q == null ? null : q.pollLast();
        INDArray a;
        if (buffer != null) {
            removeIdentical(oldestFirst, buffer);
            isFree.remove(buffer);
            freeBytes -= bytes(buffer);
            // A new array object over the buffer: SameDiff tracks arrays by identity, and this one starts a new life.
            a = Nd4j.create(buffer, shape, Nd4j.getStrides(shape, order), 0, order, dataType);
            reused++;
        } else {
            a = Nd4j.createUninitializedDetached(dataType, shape);
            if (a.ordering() != order) a.setOrder(order);
            allocated++;
        }
        return a;
    }

    /**
     * Takes back an array the session no longer needs, whichever allocated it (this pool or an op itself), as SameDiff's
     * own cache does. Only an array that is its whole buffer and shares it with no live view becomes free; others are
     * closed when nothing else uses their buffer, else left to the garbage collector. Arrays the session never
     * releases (a pass's outputs) are the caller's and are not tracked here.
     */
    @Override
    public void release(INDArray array) {
        DataBuffer buffer = array.data();
        if (array.wasClosed() || buffer == null || isFree.contains(buffer)) return;
        boolean shared = Nd4j.getExecutioner().useCount(buffer) > 1;
        if (array.isView() || buffer.originalDataBuffer() != null || array.length() != buffer.length()) {
            if (array.closeable() && !shared) array.close();
            return;
        }
        if (shared) return;
        free.computeIfAbsent(key(buffer.dataType(), buffer.length()), k -> new ArrayDeque<>()).add(buffer);
        oldestFirst.add(buffer);
        isFree.add(buffer);
        freeBytes += bytes(buffer);
        while (freeBytes > budgetBytes) {
            DataBuffer oldest = oldestFirst.pollFirst();
            removeIdentical(free.get(key(oldest.dataType(), oldest.length())), oldest);
            isFree.remove(oldest);
            freeBytes -= bytes(oldest);
            close(oldest);
        }
    }

    /** Closes the free buffers; arrays still in use stay valid (the garbage collector frees them). */
    @Override
    public void close() {
        oldestFirst.forEach(ActivationPool::close);
        oldestFirst.clear();
        free.clear();
        isFree.clear();
        freeBytes = 0;
    }

    private static void close(DataBuffer b) {
        if (!b.wasClosed() && b.closeable()) b.close();
    }

    /** Removes {@code b} itself: a DataBuffer's equals compares contents. */
    private static void removeIdentical(ArrayDeque<DataBuffer> q, DataBuffer b) {
        for (Iterator<DataBuffer> it = q.iterator(); it.hasNext(); ) {
            if (it.next() == b) {
                it.remove();
                return;
            }
        }
    }

    private static long bytes(DataBuffer b) {
        return b.length() * b.dataType().width();
    }

    private static String key(DataType dataType, long length) {
        return dataType + "/" + length;
    }
}
