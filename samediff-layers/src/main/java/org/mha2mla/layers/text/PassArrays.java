package org.mha2mla.layers.text;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.InferenceSession;
import org.nd4j.autodiff.samediff.internal.memory.ArrayCacheMemoryMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.BaseNDArray;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A SameDiff session memory manager that hands one pass's arrays to the next pass of the same shapes, for graphs run
 * over and over on inputs of one shape (a training step's gradient pass).
 *
 * <p>Why: SameDiff M2.1 allocates every op output of a pass fresh and, in a gradient pass, gives almost none of them
 * back before the pass ends (its own cache, {@code ArrayCacheMemoryMgr}, received 43 of the 1191 arrays of a training
 * pass of {@code benchmarks/trainer}'s default shape); the rest are freed only when the JVM collects their wrappers.
 * A fresh off-heap array costs its allocation and first touch of every page, which on the benchmark machine took
 * 1.6 s of a 2.4 s update (472 MB of arrays a pass, about 0.3 GB/s). Here an array allocated in one pass is reused
 * by the next pass's request of the same data type, order and shape:
 * <ul>
 * <li>{@link #recycle} (called before a pass) makes every array of the previous pass free again and closes the free
 * arrays that pass did not take, so what is kept between passes is at most one pass's arrays;</li>
 * <li>{@link #clear} (called instead before a pass of other input shapes) closes them all, so a pass's arrays never
 * sit beside those of a pass of other shapes: the memory is that of one pass, as without reuse;</li>
 * <li>an array the session releases during a pass is free at once (as SameDiff's own cache does), unless another view
 * still shares its buffer.</li>
 * </ul>
 * {@link #install} it before a pass. The contract that follows: arrays a pass returns (outputs, gradients) are valid
 * until the next {@link #recycle}; the caller copies what it keeps and must not close them. Arrays are uninitialised,
 * as the interface promises.
 */
public final class PassArrays extends ReusingArrays {

    private final Map<String, ArrayDeque<INDArray>> free = new HashMap<>();
    private final Set<INDArray> inUse = Collections.newSetFromMap(new IdentityHashMap<>());
    /** The arrays handed out since the last {@link #recycle}. */
    private final Set<INDArray> taken = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Set<SameDiff> graphs = Collections.newSetFromMap(new IdentityHashMap<>());

    /**
     * Makes this the memory manager of the calling thread's session of {@code sd} (SameDiff keeps one session per
     * thread). One manager serves a graph whichever thread runs it (a pool's threads take turns on a replica), so a
     * graph keeps one pass's arrays, not one per thread; its passes must not overlap.
     */
    public void install(SameDiff sd) {
        long thread = Thread.currentThread().getId();
        InferenceSession session = sd.getSessions().get(thread);
        if (session == null) {
            session = new InferenceSession(sd);
            sd.getSessions().put(thread, session);
        }
        if (session.getMmgr() != this) session.setMmgr(this);
        graphs.add(sd);
    }

    /** Starts a pass: the previous pass's arrays become free; free arrays it did not take are closed. */
    public void recycle() {
        for (ArrayDeque<INDArray> q : free.values()) {
            q.removeIf(a -> {
                boolean stale = !taken.contains(a);
                if (stale) close(a);
                return stale;
            });
        }
        free.values().removeIf(ArrayDeque::isEmpty);
        taken.clear();
        for (INDArray a : inUse) {
            if (!a.wasClosed()) free.computeIfAbsent(key(a.dataType(), a.ordering(), a.shape()), k -> new ArrayDeque<>()).add(a);
        }
        inUse.clear();
    }

    /**
     * Starts a pass that will not reuse the previous one's arrays (its inputs have other shapes): closes every array
     * held, so the pass's arrays never sit beside another pass's.
     */
    public void clear() {
        for (ArrayDeque<INDArray> q : free.values()) q.forEach(PassArrays::close);
        inUse.forEach(PassArrays::close);
        free.clear();
        inUse.clear();
        taken.clear();
    }

    /** Whether {@code a} was handed out by this manager (the caller must not close it). */
    public boolean owns(INDArray a) {
        return inUse.contains(a);
    }

    @Override
    protected INDArray take(DataType dataType, char order, long[] shape) {
        ArrayDeque<INDArray> q = free.get(key(dataType, order, shape));
        INDArray a = q == null ? null : q.poll();
        while (a != null && a.wasClosed()) a = q.poll();
        if (a != null) {
            // A new id: SameDiff tracks arrays by id and by identity, and this one starts a new life.
            ((BaseNDArray) a).assignNewId();
            reused++;
        } else {
            a = Nd4j.createUninitializedDetached(dataType, shape);
            if (a.ordering() != order) a.setOrder(order);
            allocated++;
        }
        inUse.add(a);
        taken.add(a);
        return a;
    }

    @Override
    public void release(INDArray array) {
        if (!inUse.remove(array)) {
            // Not one of ours (an op's own output): as SameDiff's manager without its cache.
            if (array.closeable() && (array.data() == null || Nd4j.getExecutioner().useCount(array.data()) <= 1)) array.close();
            return;
        }
        if (array.wasClosed()) return;
        if (array.data() != null && Nd4j.getExecutioner().useCount(array.data()) > 1) {
            // A view still shares the buffer: keep it until the pass is over.
            inUse.add(array);
            return;
        }
        free.computeIfAbsent(key(array.dataType(), array.ordering(), array.shape()), k -> new ArrayDeque<>()).add(array);
    }

    /** Closes every array it holds and gives the sessions it served back SameDiff's own manager. */
    @Override
    public void close() {
        for (SameDiff sd : graphs) {
            for (InferenceSession session : sd.getSessions().values()) {
                if (session.getMmgr() == this) session.setMmgr(new ArrayCacheMemoryMgr());
            }
        }
        graphs.clear();
        clear();
    }

    private static void close(INDArray a) {
        if (!a.wasClosed() && a.closeable()) a.close();
    }

    /** The names and shapes of a pass's inputs, in name order: equal strings mean a pass can {@link #recycle}. */
    public static String shapes(Map<String, INDArray> inputs) {
        StringBuilder b = new StringBuilder();
        new java.util.TreeMap<>(inputs).forEach((n, a) -> b.append(n).append(Arrays.toString(a.shape())).append(';'));
        return b.toString();
    }

    private static String key(DataType dataType, char order, long[] shape) {
        return dataType + "/" + order + Arrays.toString(shape);
    }
}
