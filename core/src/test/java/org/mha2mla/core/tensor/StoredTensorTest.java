package org.mha2mla.core.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Stored tensors over ND4J memory and over several chunks: widening, row reads and products match plain ND4J. */
class StoredTensorTest {

    @Test
    void aFloat32ArrayIsReadInPlaceAndWidensToItself() {
        INDArray a = Nd4j.rand(DataType.FLOAT, 37, 19);
        StoredTensor t = StoredTensor.of("w", a);
        assertEquals(Precision.F32, t.precision());
        assertEquals(37, t.rows());
        assertEquals(19, t.cols());
        assertEquals(a, t.floats());
        float[] rows = new float[2 * 19];
        t.rowsInto(5, 2, rows, 0);
        assertArrayEquals(a.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(5, 7)).dup().data().asFloat(), rows);
        a.putScalar(0, 0, 42f);
        assertEquals(42f, t.floats().getFloat(0, 0), "the tensor views the array's memory, no copy");
    }

    @Test
    void aViewOrAnotherDtypeIsCopiedFirst() {
        INDArray a = Nd4j.rand(DataType.DOUBLE, 10, 8);
        INDArray view = a.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 6));
        assertEquals(view.castTo(DataType.FLOAT), StoredTensor.of("v", view).floats());
    }

    @Test
    void matVecEqualsNd4jAcrossSeveralChunksAndThreads() {
        SplittableRandom rnd = new SplittableRandom(5);
        int rows = 1000;
        int cols = 300;
        for (Precision p : Precision.values()) {
            int perChunk = 128;
            int count = (rows + perChunk - 1) / perChunk;
            ByteBuffer[] chunks = new ByteBuffer[count];
            for (int k = 0; k < count; k++) chunks[k] = KernelsTest.random(Math.min(perChunk, rows - k * perChunk) * cols, p, rnd);
            AtomicInteger released = new AtomicInteger();
            StoredTensor w = StoredTensor.of("w", p, new long[]{rows, cols}, chunks, perChunk, released::incrementAndGet);
            INDArray wf = w.floats();
            INDArray x = Nd4j.rand(DataType.FLOAT, 3, cols).subi(0.5);
            INDArray bias = Nd4j.rand(DataType.FLOAT, rows);
            float[] y = new float[3 * rows];
            MatVec.apply(w, x.data().asFloat(), 3, y, StoredTensor.of("b", bias));
            INDArray expected = x.mmul(wf.transpose()).addiRowVector(bias);
            INDArray got = Nd4j.create(y, new long[]{3, rows});
            assertTrue(expected.equalsWithEps(got, 1e-4), p + ": max |diff| " + expected.sub(got).amaxNumber());
            float[] row = new float[cols];
            w.rowsInto(777, 1, row, 0);
            assertArrayEquals(wf.getRow(777).dup().data().asFloat(), row, p + " row 777 from chunk 6");
            w.close();
            w.close();
            assertEquals(1, released.get(), "release runs once");
            assertThrows(IllegalStateException.class, () -> w.rowsInto(0, 1, row, 0));
        }
    }
}
