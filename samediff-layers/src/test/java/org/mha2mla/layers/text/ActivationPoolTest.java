package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * {@link ActivationPool}: a released buffer serves the next request of the same data type and element count whatever
 * its shape, as an array of its own (not a view); a buffer a live view shares is not reused; the free buffers stay
 * within the budget, oldest closed first; and inference passes on pooled arrays equal, bit for bit, those of SameDiff's
 * own memory manager on a twin graph, pass after pass, across sequence lengths.
 */
class ActivationPoolTest {

    private static final int D = 6;

    @Test
    void aReleasedBufferServesTheNextRequestOfItsLengthInAnyShape() {
        ActivationPool pool = new ActivationPool(1 << 20);
        INDArray a = pool.allocate(false, DataType.FLOAT, 2, 6);
        DataBuffer buffer = a.data();
        pool.release(a);
        assertEquals(48, pool.freeBytes());

        INDArray b = pool.allocate(false, DataType.FLOAT, 3, 4);
        assertSame(buffer, b.data(), "the 12-element request did not get the released 12-element buffer");
        assertNotSame(a, b, "a reused buffer must come as a new array (SameDiff tracks arrays by identity)");
        assertArrayEquals(new long[]{3, 4}, b.shape());
        assertFalse(b.isView());
        assertEquals(0, pool.freeBytes());

        INDArray c = pool.allocate(false, DataType.FLOAT, 3, 5);
        INDArray d = pool.allocate(false, DataType.DOUBLE, 3, 4);
        assertNotSame(buffer, c.data(), "a 15-element request took a 12-element buffer");
        assertNotSame(buffer, d.data(), "a double request took a float buffer");
        assertEquals(1, pool.reused());
        assertEquals(3, pool.allocated());
        pool.close();
    }

    @Test
    void aBufferThatAViewStillSharesIsNotReused() {
        ActivationPool pool = new ActivationPool(1 << 20);
        INDArray a = pool.allocate(false, DataType.FLOAT, 4, 6);
        INDArray view = a.reshape(6, 4);
        pool.release(a);
        assertEquals(0, pool.freeBytes(), "the buffer of a live reshape went back to the pool");
        INDArray b = pool.allocate(false, DataType.FLOAT, 4, 6);
        assertNotSame(a.data(), b.data());
        b.assign(7);
        assertEquals(0.0, view.sumNumber().doubleValue(), "writing a new array changed the view of a released one");
        pool.close();
    }

    @Test
    void anArrayReleasedTwiceIsHandedOutOnce() {
        ActivationPool pool = new ActivationPool(1 << 20);
        INDArray a = pool.allocate(false, DataType.FLOAT, 4, 6);
        pool.release(a);
        pool.release(a);
        assertEquals(96, pool.freeBytes());
        INDArray b = pool.allocate(false, DataType.FLOAT, 4, 6);
        INDArray c = pool.allocate(false, DataType.FLOAT, 4, 6);
        assertSame(a.data(), b.data());
        assertNotSame(b.data(), c.data(), "one released buffer was handed out to two arrays");
        pool.close();
    }

    @Test
    void aReleasedViewOfPartOfABufferIsNotPooled() {
        ActivationPool pool = new ActivationPool(1 << 20);
        INDArray whole = Nd4j.createUninitializedDetached(DataType.FLOAT, 4, 6);
        pool.release(whole.get(NDArrayIndex.interval(0, 2), NDArrayIndex.all()));
        assertEquals(0, pool.freeBytes(), "a view of half a buffer became a free buffer");
        pool.close();
    }

    @Test
    void theFreeBuffersStayWithinTheBudgetOldestClosedFirst() {
        ActivationPool pool = new ActivationPool(100);            // room for one 24-float buffer (96 bytes), not two
        INDArray first = pool.allocate(false, DataType.FLOAT, 4, 6);
        INDArray second = pool.allocate(false, DataType.FLOAT, 2, 12);
        DataBuffer firstBuffer = first.data();
        DataBuffer secondBuffer = second.data();
        pool.release(first);
        pool.release(second);
        assertEquals(96, pool.freeBytes());
        assertTrue(firstBuffer.wasClosed(), "the older buffer was kept beyond the budget");
        assertFalse(secondBuffer.wasClosed());
        assertSame(secondBuffer, pool.allocate(false, DataType.FLOAT, 24).data());
        pool.close();
    }

    /** A small attention-like block: linear, scores, a reshape, softmax, weighted sum, tanh. */
    private static SameDiff graph() {
        Nd4j.getRandom().setSeed(11);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, D);
        SDVariable w = sd.constant("w", Nd4j.rand(DataType.FLOAT, D, D).subi(0.5));
        SDVariable h = sd.mmul(x, w);
        SDVariable scores = sd.mmul(h, x, false, true, false).mul(0.5);
        SDVariable probs = sd.nn().softmax(sd.reshape(scores, sd.shape(scores)), -1);
        sd.math().tanh("y", sd.mmul(probs, h));
        return sd;
    }

    @Test
    void passesOnPooledArraysEqualPassesOnFreshOnes() {
        SameDiff pooled = graph();
        SameDiff fresh = graph();
        ActivationPool pool = new ActivationPool(1 << 20);
        Nd4j.getRandom().setSeed(5);
        List<INDArray> inputs = List.of(Nd4j.randn(DataType.FLOAT, 9, D), Nd4j.randn(DataType.FLOAT, 9, D),
                Nd4j.randn(DataType.FLOAT, 4, D), Nd4j.randn(DataType.FLOAT, 9, D));
        for (int i = 0; i < inputs.size(); i++) {
            pooled.getSessions().computeIfAbsent(Thread.currentThread().getId(), id -> SameDiff.getInferenceFactory().create(pooled))
                    .setMmgr(pool);
            long allocatedBefore = pool.allocated();
            INDArray got = pooled.output(Map.of("x", inputs.get(i)), "y").get("y");
            // The output of the pass before stays with the caller; every other array of a pass of one shape is reused.
            if (i == 1) assertEquals(allocatedBefore + 1, pool.allocated(), "a second pass of one shape allocated fresh arrays");
            INDArray want = fresh.output(Map.of("x", inputs.get(i)), "y").get("y");
            assertArrayEquals(want.dup().data().asFloat(), got.dup().data().asFloat(), "pass " + i);
        }
        assertTrue(pool.reused() > 0, "no array was reused");
        pool.close();
    }
}
