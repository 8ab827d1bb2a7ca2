package org.mha2mla.core.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

import org.bytedeco.javacpp.BytePointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One weight tensor in the precision it is stored in (float32, f16 or bf16), read where it lies: a memory-mapped
 * safetensors file, or ND4J memory for a tensor computed in this process. Nothing is widened until asked: the
 * decode kernels ({@link MatVec}) read the stored bytes directly, and multi-token passes widen one layer at a time
 * into reusable float32 arrays ({@link #widenInto}).
 *
 * <p>The elements are viewed as a row-major matrix [rows, cols] (rows = the first axis, cols = the product of the
 * others; a vector is one row) held in chunks of whole rows, each a little-endian {@link ByteBuffer} of at most
 * {@value #MAX_CHUNK_BYTES} bytes (a Java buffer addresses at most 2 GB; a 7B model's embedding table in float32 is
 * 2.2 GB). {@link #close()} releases the mapping (or lets go of the array); the tensor must not be read after.
 */
public final class StoredTensor implements AutoCloseable {

    /** Largest chunk: 1 GiB, a power of two below Java's 2 GB buffer limit. */
    public static final long MAX_CHUNK_BYTES = 1L << 30;

    private final String name;
    private final Precision precision;
    private final long[] shape;
    private final long rows;
    private final long cols;
    private final ByteBuffer[] chunks;
    private final int rowsPerChunk;
    private final Runnable release;
    private final Runnable dropPages;
    private volatile boolean closed;

    private StoredTensor(String name, Precision precision, long[] shape, ByteBuffer[] chunks, int rowsPerChunk, Runnable release,
                         Runnable dropPages) {
        this.name = name;
        this.precision = precision;
        this.shape = shape.clone();
        this.rows = shape.length >= 2 ? shape[0] : 1;
        long numel = 1;
        for (long s : shape) numel = Math.multiplyExact(numel, s);
        this.cols = rows == 0 ? 0 : numel / rows;
        this.chunks = chunks;
        this.rowsPerChunk = rowsPerChunk;
        this.release = release;
        this.dropPages = dropPages;
        long expected = rows == 0 ? 0 : (rows + rowsPerChunk - 1) / rowsPerChunk;
        if (chunks.length != expected) {
            throw new IllegalArgumentException(name + ": " + chunks.length + " chunks for " + rows + " rows of " + rowsPerChunk);
        }
    }

    /**
     * A tensor over buffers the caller laid out with {@link #rowsPerChunk(long, Precision)} rows each (the last may
     * hold fewer); {@code release} runs once on {@link #close()} (e.g. unmaps the file).
     */
    public static StoredTensor of(String name, Precision precision, long[] shape, ByteBuffer[] chunks, Runnable release) {
        return of(name, precision, shape, chunks, release, () -> { });
    }

    /**
     * As {@link #of(String, Precision, long[], ByteBuffer[], Runnable)} for buffers whose resident pages can be handed
     * back without closing them: {@code dropPages} runs on each {@link #dropPages()} (e.g. {@code MADV_DONTNEED} on a
     * file mapping).
     */
    public static StoredTensor of(String name, Precision precision, long[] shape, ByteBuffer[] chunks, Runnable release,
                                  Runnable dropPages) {
        long rows = shape.length >= 2 ? shape[0] : 1;
        long cols = rows == 0 ? 0 : numel(shape) / rows;
        return new StoredTensor(name, precision, shape, chunks, rowsPerChunk(cols, precision), release, dropPages);
    }

    /**
     * A float32 tensor over an ND4J array's own memory (no copy when the array is float32 and c-ordered, else over a
     * c-ordered float32 copy). The array must not change while the tensor is read.
     */
    public static StoredTensor of(String name, INDArray array) {
        INDArray a = array.dataType() == DataType.FLOAT && array.ordering() == 'c' && !array.isView()
                ? array : array.castTo(DataType.FLOAT).dup('c');
        long[] shape = a.shape();
        long rows = shape.length >= 2 ? shape[0] : 1;
        long cols = rows == 0 ? 0 : a.length() / rows;
        int perChunk = rowsPerChunk(cols, Precision.F32);
        int count = rows == 0 ? 0 : (int) ((rows + perChunk - 1) / perChunk);
        ByteBuffer[] chunks = new ByteBuffer[count];
        for (int k = 0; k < count; k++) {
            long fromRow = (long) k * perChunk;
            long n = Math.min(perChunk, rows - fromRow) * cols;
            chunks[k] = window(a, fromRow * cols, n);
        }
        return new StoredTensor(name, Precision.F32, shape, chunks, perChunk, () -> { }, () -> { });
    }

    /** Like {@link #of(String, Precision, long[], ByteBuffer[], Runnable)} with another chunk size (tests of multi-chunk reads). */
    static StoredTensor of(String name, Precision precision, long[] shape, ByteBuffer[] chunks, int rowsPerChunk, Runnable release) {
        return new StoredTensor(name, precision, shape, chunks, rowsPerChunk, release, () -> { });
    }

    /** Rows per chunk for rows of {@code cols} elements: as many as fit {@link #MAX_CHUNK_BYTES}, at least one. */
    public static int rowsPerChunk(long cols, Precision precision) {
        long rowBytes = Math.max(1, cols * precision.bytes());
        if (rowBytes > MAX_CHUNK_BYTES) {
            throw new IllegalArgumentException("a row of " + cols + " " + precision + " elements exceeds " + MAX_CHUNK_BYTES + " bytes");
        }
        return (int) Math.min(Integer.MAX_VALUE, MAX_CHUNK_BYTES / rowBytes);
    }

    /**
     * A little-endian view of {@code n} float32 elements of {@code a}'s memory, from element {@code from} of its
     * c-ordered data (a must be float32, c-ordered, not a view; n·4 ≤ 2 GB).
     */
    public static ByteBuffer window(INDArray a, long from, long n) {
        if (a.dataType() != DataType.FLOAT || a.ordering() != 'c' || a.isView()) {
            throw new IllegalArgumentException("a float32 c-ordered array that is not a view is needed, got " + a.dataType()
                    + " " + a.ordering() + (a.isView() ? " view" : ""));
        }
        long bytes = n * 4;
        if (bytes > Integer.MAX_VALUE) throw new IllegalArgumentException("window of " + n + " floats exceeds 2 GB");
        long start = (a.offset() + from) * 4;
        // JavaCPP's asByteBuffer covers [address, address + limit) and only sets its position, so slice after.
        ByteBuffer all = new BytePointer(a.data().pointer()).capacity(start + bytes).position(0).limit(start + bytes).asByteBuffer();
        return all.position((int) start).slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) n = Math.multiplyExact(n, s);
        return n;
    }

    public String name() {
        return name;
    }

    public Precision precision() {
        return precision;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long rows() {
        return rows;
    }

    public long cols() {
        return cols;
    }

    public long numel() {
        return rows * cols;
    }

    /** Bytes as stored. */
    public long bytes() {
        return numel() * precision.bytes();
    }

    public int chunkCount() {
        return chunks.length;
    }

    /** Chunk k: rows [k·rowsPerChunk(), min(rows, (k+1)·rowsPerChunk())), little-endian. */
    public ByteBuffer chunk(int k) {
        checkOpen();
        return chunks[k];
    }

    public int rowsPerChunk() {
        return rowsPerChunk;
    }

    /** A new float32 array of this tensor's shape, c-ordered, with the widened values. */
    public INDArray floats() {
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, shape);
        widenInto(out);
        return out;
    }

    /**
     * Writes the widened values into {@code dst} (float32, c-ordered, not a view, as many elements as this tensor),
     * on all cores.
     */
    public void widenInto(INDArray dst) {
        checkOpen();
        if (dst.length() != numel()) {
            throw new IllegalArgumentException(name + ": cannot widen " + Arrays.toString(shape) + " into " + Arrays.toString(dst.shape()));
        }
        Kernels k = Kernels.get();
        for (int c = 0; c < chunks.length; c++) {
            long fromRow = (long) c * rowsPerChunk;
            int n = Math.toIntExact(Math.min(rowsPerChunk, rows - fromRow) * cols);
            ByteBuffer target = window(dst, fromRow * cols, n);
            ByteBuffer src = chunks[c];
            Parallel.forRange(n, 1 << 16, (from, to) -> k.widen(src, from, precision, target, from, to - from));
        }
    }

    /**
     * Writes the widened rows [from, from + count) into {@code dst} (float32, c-ordered, not a view, count·cols
     * elements), e.g. one slice of a vocabulary-sized output projection at a time.
     */
    public void widenRowsInto(long from, int count, INDArray dst) {
        checkOpen();
        if (from < 0 || count < 0 || from + count > rows || dst.length() != (long) count * cols) {
            throw new IllegalArgumentException(name + ": cannot widen rows [" + from + ", " + (from + count) + ") of "
                    + Arrays.toString(shape) + " into " + Arrays.toString(dst.shape()));
        }
        Kernels k = Kernels.get();
        long done = 0;
        while (done < count) {
            long r = from + done;
            int c = (int) (r / rowsPerChunk);
            long local = r - (long) c * rowsPerChunk;
            int n = (int) Math.min(count - done, rowsPerChunk - local);
            int elements = Math.toIntExact(n * cols);
            ByteBuffer target = window(dst, done * cols, elements);
            ByteBuffer src = chunks[c];
            long srcStart = local * cols;
            Parallel.forRange(elements, 1 << 16, (a, b) -> k.widen(src, srcStart + a, precision, target, a, b - a));
            done += n;
        }
    }

    /** Widens the flat (row-major) elements [from, from + count) into dst[offset …], across chunk boundaries. */
    public void elementsInto(long from, int count, float[] dst, int offset) {
        checkOpen();
        if (from < 0 || count < 0 || from + count > numel()) {
            throw new IndexOutOfBoundsException(name + ": elements [" + from + ", " + (from + count) + ") of " + numel());
        }
        Kernels k = Kernels.get();
        long chunkElements = (long) rowsPerChunk * cols;
        int done = 0;
        while (done < count) {
            long e = from + done;
            int c = (int) (e / chunkElements);
            long local = e - c * chunkElements;
            int n = (int) Math.min(count - done, chunkElements - local);
            k.widen(chunks[c], local, precision, dst, offset + done, n);
            done += n;
        }
    }

    /** Widens rows [from, from + count) into dst[offset …] (count·cols floats), e.g. embedding rows. */
    public void rowsInto(long from, int count, float[] dst, int offset) {
        checkOpen();
        if (from < 0 || count < 0 || from + count > rows) {
            throw new IndexOutOfBoundsException(name + ": rows [" + from + ", " + (from + count) + ") of " + rows);
        }
        Kernels k = Kernels.get();
        for (int i = 0; i < count; i++) {
            long r = from + i;
            int c = (int) (r / rowsPerChunk);
            long local = r - (long) c * rowsPerChunk;
            k.widen(chunks[c], local * cols, precision, dst, Math.toIntExact(offset + (long) i * cols), Math.toIntExact(cols));
        }
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("weight '" + name + "' was released and can no longer be read");
    }

    /**
     * Takes the pages of a memory-mapped tensor out of the process's resident memory; the tensor stays readable, and a
     * later read maps its pages again from the page cache. Nothing for a tensor in ND4J memory, or once closed.
     */
    public void dropPages() {
        if (!closed) dropPages.run();
    }

    /** Releases the memory behind the tensor (unmaps a mapped file region); later reads fail. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        release.run();
    }

    @Override
    public String toString() {
        return name + " " + precision + " " + Arrays.toString(shape);
    }
}
