package org.mha2mla.importers.safetensors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * Writes safetensors files the way the Python library does (8-byte little-endian header length, compact JSON
 * header padded with spaces to a multiple of 8, data offsets increasing in header order) and sharded
 * checkpoints the way transformers' save_pretrained does ({@code model-00001-of-00003.safetensors} +
 * {@code model.safetensors.index.json}). Each file is written to a temporary file in the target folder and
 * moved into place atomically, so an interrupted save never leaves a half-written file under the real name.
 *
 * <p>Floating tensors are stored in the requested dtype (F32, F16, BF16 or F64); F16 and BF16 round to nearest
 * even (as torch's .half() / .bfloat16()). Integer and boolean ND4J arrays keep their own dtype (LONG → I64,
 * INT → I32, SHORT → I16, BYTE → I8, UBYTE → U8, BOOL → BOOL).
 *
 * <p>A tensor comes either as an ND4J array, asked for when its bytes are written ({@link Entry#Entry(String, DType,
 * long[], Supplier)}), or as a {@link ChunkedTensor} whose chunks are encoded straight into the file, several at
 * once on {@link Options#threads} threads ({@link Entry#chunked}); a chunked tensor is never held whole.
 */
public final class SafeTensorsWriter {
    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String SINGLE_FILE = "model.safetensors";
    private static final Pattern SHARD_NAME = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");
    private static final int CHUNK_ELEMS = 1 << 20;

    private SafeTensorsWriter() {
    }

    /**
     * One tensor to write, from exactly one of {@code data} or {@code chunks}. The data is only asked for when its
     * bytes are written, so a whole model can be streamed from a checkpoint one tensor at a time; the supplied array
     * must have {@code shape}.
     */
    public record Entry(String name, DType dtype, long[] shape, Supplier<INDArray> data, ChunkedTensor chunks) {
        public Entry {
            shape = shape.clone();
            if ((data == null) == (chunks == null)) {
                throw new SafeTensorsException("tensor '" + name + "': give either an array supplier or a chunked source");
            }
        }

        /** A tensor from an ND4J array. */
        public Entry(String name, DType dtype, long[] shape, Supplier<INDArray> data) {
            this(name, dtype, shape, data, null);
        }

        /** A tensor whose bytes {@code chunks} encodes chunk by chunk. */
        public static Entry chunked(String name, DType dtype, long[] shape, ChunkedTensor chunks) {
            return new Entry(name, dtype, shape, null, chunks);
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long numel() {
            long n = 1;
            for (long s : shape) n = Math.multiplyExact(n, s);
            return n;
        }

        public long byteLength() {
            long n = dtype.size();
            for (long s : shape) n = Math.multiplyExact(n, s);
            return n;
        }
    }

    /**
     * How files are written: the threads that encode {@link ChunkedTensor} chunks (default: one per core), a callback
     * told of every block of bytes written (for progress bars), and the order of tensors inside each file.
     */
    public static final class Options {
        /** One thread per core, no progress callback, tensors in list order. */
        public static final Options DEFAULT = builder().build();

        private final int threads;
        private final LongConsumer bytesWritten;
        private final boolean sortedByName;

        private Options(Builder b) {
            this.threads = b.threads;
            this.bytesWritten = b.bytesWritten;
            this.sortedByName = b.sortedByName;
        }

        public static Builder builder() {
            return new Builder();
        }

        public int threads() {
            return threads;
        }

        public boolean sortedByName() {
            return sortedByName;
        }

        public static final class Builder {
            private int threads = Runtime.getRuntime().availableProcessors();
            private LongConsumer bytesWritten = n -> { };
            private boolean sortedByName;

            private Builder() {
            }

            /** Threads that encode chunks of chunked tensors (1: the writing thread does it). */
            public Builder threads(int threads) {
                if (threads < 1) throw new SafeTensorsException("writer threads must be at least 1, got " + threads);
                this.threads = threads;
                return this;
            }

            /** Called with the size of every block of tensor bytes once it is written. */
            public Builder bytesWritten(LongConsumer bytesWritten) {
                this.bytesWritten = bytesWritten;
                return this;
            }

            /**
             * Orders the tensors of each file by name, as the Python safetensors library does for tensors of one
             * dtype (it sorts by dtype, then name); shards are still cut in list order, as save_pretrained cuts
             * them in state-dict order.
             */
            public Builder sortedByName(boolean sortedByName) {
                this.sortedByName = sortedByName;
                return this;
            }

            public Options build() {
                return new Options(this);
            }
        }
    }

    /** Entries for in-memory arrays: floating arrays stored as {@code floatStorage}, integer ones as they are. */
    public static List<Entry> entries(Map<String, INDArray> tensors, DType floatStorage) {
        List<Entry> out = new ArrayList<>();
        tensors.forEach((name, a) -> {
            if (a == null) throw new SafeTensorsException("tensor '" + name + "' is null");
            out.add(new Entry(name, storageFor(a.dataType(), floatStorage, name), a.shape(), () -> a));
        });
        return out;
    }

    /** The stored dtype of an array of ND4J type {@code t}: {@code floatStorage} for floating types. */
    public static DType storageFor(DataType t, DType floatStorage, String name) {
        if (!floatStorage.isFloating()) {
            throw new SafeTensorsException("storage dtype for floating tensors must be F32, F16, BF16 or F64, got " + floatStorage);
        }
        switch (t) {
            case FLOAT: case DOUBLE: case HALF: case BFLOAT16: return floatStorage;
            case LONG: return DType.I64;
            case INT: return DType.I32;
            case SHORT: return DType.I16;
            case BYTE: return DType.I8;
            case UBYTE: return DType.U8;
            case BOOL: return DType.BOOL;
            default: throw new SafeTensorsException("tensor '" + name + "' has ND4J dtype " + t + ", which safetensors cannot store here");
        }
    }

    /** Writes one file (atomically). Tensors keep the map's order in the header and the data section. */
    public static void write(Path file, Map<String, INDArray> tensors, Map<String, String> metadata, DType floatStorage) {
        write(file, entries(tensors, floatStorage), metadata);
    }

    /** Writes one file from entries (atomically), header and data in list order. */
    public static void write(Path file, List<Entry> entries, Map<String, String> metadata) {
        write(file, entries, metadata, Options.DEFAULT);
    }

    /** Writes one file from entries (atomically), header and data in list order or, if the options say so, by name. */
    public static void write(Path file, List<Entry> entries, Map<String, String> metadata, Options options) {
        if (options.sortedByName) {
            entries = new ArrayList<>(entries);
            entries.sort(Comparator.comparing(Entry::name));
        }
        byte[] header = header(file, entries, metadata);
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = null;
        ExecutorService pool = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
            if (options.threads > 1 && entries.stream().anyMatch(e -> e.chunks() != null)) pool = encoderPool(options.threads);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK_ELEMS * 8).order(ByteOrder.LITTLE_ENDIAN);
                ByteBuffer[] ring = new ByteBuffer[pool == null ? 1 : 2 * options.threads];
                for (Entry e : entries) {
                    if (e.chunks() != null) writeChunked(ch, e, file, pool, ring, options);
                    else writeData(ch, buf, e, file, options.bytesWritten);
                }
                ch.force(true);
            }
            moveAtomically(tmp, file);
            tmp = null;
        } catch (IOException e) {
            throw new SafeTensorsException(file + ": write failed (" + e + ")", e);
        } finally {
            if (pool != null) pool.shutdownNow();
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the original error is more useful
                }
            }
        }
    }

    /**
     * Writes {@code dir/model-0000i-of-0000n.safetensors} shards of at most {@code maxShardBytes} each and
     * {@code model.safetensors.index.json}, cut as huggingface_hub's split_torch_state_dict_into_shards (which
     * save_pretrained uses) cuts them: tensors in list order, a tensor never split, a shard closed when the next
     * tensor would take it over the limit, and a tensor larger than the limit put in a shard of its own (the shard
     * being filled stays open for the tensors after it). With a single shard it writes {@code model.safetensors} and
     * no index, as save_pretrained does. Shard or index files of an earlier save that the new one does not use are
     * removed.
     *
     * @return the index file, or model.safetensors when one shard sufficed
     */
    public static Path writeSharded(Path dir, Map<String, INDArray> tensors, Map<String, String> metadata,
                                    DType floatStorage, long maxShardBytes) {
        return writeSharded(dir, entries(tensors, floatStorage), metadata, maxShardBytes);
    }

    public static Path writeSharded(Path dir, List<Entry> entries, Map<String, String> metadata, long maxShardBytes) {
        return writeSharded(dir, entries, metadata, maxShardBytes, Options.DEFAULT);
    }

    /** As {@link #writeSharded(Path, List, Map, long)}, with the given threads, progress callback and file order. */
    public static Path writeSharded(Path dir, List<Entry> entries, Map<String, String> metadata, long maxShardBytes,
                                    Options options) {
        List<List<Entry>> shards = shards(entries, maxShardBytes, dir);
        long total = 0;
        for (Entry e : entries) total += e.byteLength();

        Set<String> written = new HashSet<>();
        Path result;
        if (shards.size() == 1) {
            result = dir.resolve(SINGLE_FILE);
            write(result, shards.get(0), metadata, options);
            written.add(SINGLE_FILE);
        } else {
            Map<String, String> weightMap = new TreeMap<>(); // transformers writes the index with sort_keys=True
            for (int i = 0; i < shards.size(); i++) {
                String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                write(dir.resolve(name), shards.get(i), metadata, options);
                written.add(name);
                for (Entry e : shards.get(i)) weightMap.put(e.name(), name);
            }
            result = dir.resolve(INDEX_FILE);
            writeIndex(result, total, weightMap);
            written.add(INDEX_FILE);
        }
        removeStale(dir, written);
        return result;
    }

    /**
     * The shards of {@link #writeSharded}: huggingface_hub's split_state_dict_into_shards_factory (an oversized tensor
     * is appended as a shard of its own ahead of the one being filled; a shard closes when the next tensor would
     * overflow it). Always at least one shard, empty for no entries.
     */
    static List<List<Entry>> shards(List<Entry> entries, long maxShardBytes, Path where) {
        if (maxShardBytes <= 0) throw new SafeTensorsException(where + ": maxShardBytes must be positive, got " + maxShardBytes);
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long currentBytes = 0;
        for (Entry e : entries) {
            long b = e.byteLength();
            if (b > maxShardBytes) {
                shards.add(List.of(e));
                continue;
            }
            if (currentBytes + b > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(e);
            currentBytes += b;
        }
        if (!current.isEmpty() || shards.isEmpty()) shards.add(current);
        return shards;
    }

    private static void writeIndex(Path index, long totalSize, Map<String, String> weightMap) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        root.putObject("metadata").put("total_size", totalSize);
        ObjectNode wm = root.putObject("weight_map");
        weightMap.forEach(wm::put);
        Path tmp = null;
        try {
            tmp = Files.createTempFile(index.toAbsolutePath().getParent(), "." + index.getFileName() + ".", ".tmp");
            // Same text as Python's json.dumps(index, indent=2, sort_keys=True): 2-space indent, "key": value.
            DefaultPrettyPrinter pp = new DefaultPrettyPrinter().withSeparators(Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(Separators.Spacing.AFTER));
            Files.write(tmp, (om.writer(pp).writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8));
            moveAtomically(tmp, index);
            tmp = null;
        } catch (IOException e) {
            throw new SafeTensorsException(index + ": write failed (" + e + ")", e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // keep the original error
                }
            }
        }
    }

    /** Removes model.safetensors / index / model-*-of-*.safetensors left by a previous save with another layout. */
    private static void removeStale(Path dir, Set<String> keep) {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                boolean ours = n.equals(SINGLE_FILE) || n.equals(INDEX_FILE) || SHARD_NAME.matcher(n).matches();
                if (ours && !keep.contains(n)) Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new SafeTensorsException(dir + ": cannot remove files of an earlier save (" + e + ")", e);
        }
    }

    static byte[] header(Path file, List<Entry> entries, Map<String, String> metadata) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = root.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        Map<String, Entry> seen = new LinkedHashMap<>();
        long offset = 0;
        for (Entry e : entries) {
            if (e.name().isEmpty() || e.name().equals("__metadata__")) {
                throw new SafeTensorsException(file + ": invalid tensor name '" + e.name() + "'");
            }
            if (seen.put(e.name(), e) != null) throw new SafeTensorsException(file + ": tensor '" + e.name() + "' given twice");
            for (long s : e.shape()) {
                if (s < 0) throw new SafeTensorsException(file + ": tensor '" + e.name() + "' has negative shape " + Arrays.toString(e.shape()));
            }
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", e.dtype().name());
            ArrayNode shape = t.putArray("shape");
            for (long s : e.shape()) shape.add(s);
            long end = offset + e.byteLength();
            t.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = om.writeValueAsBytes(root);
        } catch (IOException ex) {
            throw new SafeTensorsException(file + ": cannot serialise header (" + ex + ")", ex);
        }
        int padded = (json.length + 7) / 8 * 8; // the Python/Rust writer pads with spaces to 8-byte alignment
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    /** Daemon threads, so a failed write never keeps the JVM alive. */
    private static ExecutorService encoderPool(int threads) {
        return Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "safetensors-encoder");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Streams a chunked tensor: with a pool, up to {@code ring.length} (2 · threads) chunks are encoded ahead into a
     * ring of buffers while the finished ones are written in order; without one, chunk after chunk on this thread.
     * The ring's buffers are reused from tensor to tensor of the file (direct memory is freed only by a GC).
     */
    private static void writeChunked(FileChannel ch, Entry e, Path file, ExecutorService pool, ByteBuffer[] ring,
                                     Options options) throws IOException {
        long numel = e.numel();
        if (numel == 0) return;
        ChunkedTensor src = e.chunks();
        int per = src.chunkElements();
        if (per <= 0) throw new SafeTensorsException(file + ": tensor '" + e.name() + "' has chunks of " + per + " elements");
        long chunks = (numel + per - 1) / per;
        int chunkBytes = Math.multiplyExact((int) Math.min(per, numel), e.dtype().size());
        int slots = (int) Math.min(ring.length, chunks);
        for (int i = 0; i < slots; i++) {
            if (ring[i] == null || ring[i].capacity() < chunkBytes) {
                ring[i] = ByteBuffer.allocateDirect(chunkBytes).order(ByteOrder.LITTLE_ENDIAN);
            }
        }
        ArrayDeque<Future<ByteBuffer>> pending = new ArrayDeque<>();
        long next = 0;
        try {
            for (long done = 0; done < chunks; done++) {
                while (next < chunks && next - done < slots) {
                    long index = next++;
                    ByteBuffer buf = ring[(int) (index % slots)];
                    if (pool == null) pending.add(CompletableFuture.completedFuture(encode(e, src, index, numel, buf, file)));
                    else pending.add(pool.submit(() -> encode(e, src, index, numel, buf, file)));
                }
                ByteBuffer b = pending.removeFirst().get();
                long bytes = b.remaining();
                writeFully(ch, b);
                options.bytesWritten.accept(bytes);
            }
        } catch (ExecutionException ex) {
            Throwable c = ex.getCause();
            if (c instanceof RuntimeException r) throw r;
            throw new SafeTensorsException(file + ": tensor '" + e.name() + "': encoding a chunk failed (" + c + ")", c);
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new SafeTensorsException(file + ": interrupted while writing tensor '" + e.name() + "'", ex);
        } finally {
            for (Future<ByteBuffer> f : pending) f.cancel(true);
        }
    }

    /** Encodes chunk {@code index} into {@code buf} and checks that exactly its bytes were produced. */
    private static ByteBuffer encode(Entry e, ChunkedTensor src, long index, long numel, ByteBuffer buf, Path file) {
        long start = index * src.chunkElements();
        int count = (int) Math.min(src.chunkElements(), numel - start);
        buf.clear().limit(count * e.dtype().size());
        src.encodeChunk(index, start, count, e.dtype(), buf);
        if (buf.hasRemaining()) {
            throw new SafeTensorsException(file + ": tensor '" + e.name() + "' chunk " + index + ": the source wrote "
                    + buf.position() + " bytes, expected " + buf.limit());
        }
        return buf.flip();
    }

    private static void writeData(FileChannel ch, ByteBuffer buf, Entry e, Path file, LongConsumer bytesWritten) throws IOException {
        long numel = 1;
        for (long s : e.shape()) numel *= s;
        if (numel == 0) return;
        INDArray a = e.data().get();
        if (a == null || !Arrays.equals(a.shape(), e.shape())) {
            throw new SafeTensorsException(file + ": tensor '" + e.name() + "' was declared with shape "
                    + Arrays.toString(e.shape()) + " but its data has shape " + (a == null ? "null" : Arrays.toString(a.shape())));
        }
        INDArray flat = a.reshape('c', new long[]{numel}); // long[] form: reshape('c', long) would read 'c' as a dimension
        DType d = e.dtype();
        for (long start = 0; start < numel; start += CHUNK_ELEMS) {
            long stop = Math.min(numel, start + CHUNK_ELEMS);
            INDArray part = flat.get(NDArrayIndex.interval(start, stop));
            buf.clear();
            switch (d) {
                case F32: for (float v : part.toFloatVector()) buf.putFloat(v); break;
                case F64: for (double v : part.toDoubleVector()) buf.putDouble(v); break;
                case F16: for (float v : floats(part)) buf.putShort(HalfFloats.floatToHalf(v)); break;
                case BF16: for (float v : floats(part)) buf.putShort(HalfFloats.floatToBf16(v)); break;
                default: {
                    long[] l = part.dataType() == DataType.LONG ? part.toLongVector() : part.castTo(DataType.LONG).toLongVector();
                    for (long v : l) putInteger(buf, d, v);
                }
            }
            buf.flip();
            long bytes = buf.remaining();
            writeFully(ch, buf);
            bytesWritten.accept(bytes);
        }
    }

    /**
     * float32 values to round: a DOUBLE array rounds to f16/bf16 via float32 (double rounding, like torch's
     * tensor.to(float32).to(bfloat16)); HALF/BFLOAT16 arrays widen exactly first.
     */
    private static float[] floats(INDArray part) {
        return part.dataType() == DataType.FLOAT ? part.toFloatVector() : part.castTo(DataType.FLOAT).toFloatVector();
    }

    private static void putInteger(ByteBuffer buf, DType d, long v) {
        switch (d) {
            case I64: buf.putLong(v); break;
            case I32: buf.putInt((int) v); break;
            case I16: buf.putShort((short) v); break;
            case I8: case U8: buf.put((byte) v); break;
            case BOOL: buf.put((byte) (v != 0 ? 1 : 0)); break;
            default: throw new IllegalStateException(d.name());
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    private static void moveAtomically(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
