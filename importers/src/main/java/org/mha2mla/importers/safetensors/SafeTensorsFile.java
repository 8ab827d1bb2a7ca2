package org.mha2mla.importers.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import org.mha2mla.core.tensor.Precision;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.FileKind;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.Closeable;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Read-only view of one {@code .safetensors} file: an 8-byte little-endian header length N, N bytes of JSON
 * header, then the data section. The whole header is validated in {@link #open} before anything else is
 * allocated, so a corrupt file fails with a {@link SafeTensorsException} naming the file and tensor, never
 * with an OutOfMemoryError or a JVM crash.
 *
 * <p>Tensor data is memory-mapped per tensor and per chunk of at most {@value #CHUNK_BYTES} bytes, never the
 * whole file: real 7B shards are 5–10 GB and one MappedByteBuffer addresses at most 2 GB. Each chunk is
 * converted to float32 into the ND4J array and unmapped right away. Mappings ask for 2 MiB pages
 * ({@link PageCache}): a decode step reads every weight per token, and 4 KiB pages halved its speed at 7B.
 *
 * <p>Not thread-safe for {@link #close}; concurrent reads are fine (FileChannel.map is thread-safe).
 */
public final class SafeTensorsFile implements Closeable {
    /** The Python/Rust library refuses headers above 100 MB (safetensors MAX_HEADER_SIZE). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    static final int CHUNK_BYTES = 1 << 26; // 64 MiB, a multiple of every element size

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path path;
    private final String label;
    private final FileChannel channel;
    private final long dataStart;
    private final long dataSize;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;
    private final int chunkBytes;

    private SafeTensorsFile(Path path, FileChannel channel, long dataStart, long dataSize,
                            Map<String, TensorInfo> tensors, Map<String, String> metadata, int chunkBytes) {
        this.chunkBytes = chunkBytes;
        this.path = path;
        this.label = path.toString();
        this.channel = channel;
        this.dataStart = dataStart;
        this.dataSize = dataSize;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /** Opens and validates the header; tensor data is read lazily by the read methods. */
    public static SafeTensorsFile open(Path path) {
        return open(path, CHUNK_BYTES);
    }

    /** Test hook: a small chunk size exercises the multi-chunk path of multi-GB tensors on small files. */
    static SafeTensorsFile open(Path path, int chunkBytes) {
        if (chunkBytes <= 0 || chunkBytes % 8 != 0) throw new IllegalArgumentException("chunkBytes must be a positive multiple of 8");
        // A FIFO would block the open until a writer comes, a device such as /dev/zero never ends: refused by kind.
        if (Files.exists(path, LinkOption.NOFOLLOW_LINKS)) FileKind.requireRegular(path, SafeTensorsException::new);
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new SafeTensorsException(path + ": cannot open (" + e + ")", e);
        }
        try {
            long size = size(ch, path);
            String label = path.toString();
            if (size < 8) {
                throw new SafeTensorsException(label + ": file is " + size
                        + " bytes, too short for the 8-byte header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0, label);
            long n = lenBuf.getLong(0);
            if (n < 0 || n > MAX_HEADER_BYTES) {
                throw new SafeTensorsException(label + ": header length " + Long.toUnsignedString(n)
                        + " is out of bounds (at most " + MAX_HEADER_BYTES + " bytes)");
            }
            if (n > size - 8) {
                throw new SafeTensorsException(label + ": header length " + n + " runs past the end of the file ("
                        + size + " bytes, so at most " + (size - 8) + " header bytes); file truncated?");
            }
            if (n < 2) throw new SafeTensorsException(label + ": header length " + n + " is too small for a JSON object");
            ByteBuffer headerBuf = ByteBuffer.allocate((int) n);
            readFully(ch, headerBuf, 8, label);
            long dataStart = 8 + n;
            long dataSize = size - dataStart;
            Map<String, String> meta = new LinkedHashMap<>();
            Map<String, TensorInfo> infos = parseHeader(headerBuf.array(), label, dataSize, meta);
            PageCache.refreshSmallFolios(path, ch, dataStart, dataSize);
            return new SafeTensorsFile(path, ch, dataStart, dataSize, infos, meta, chunkBytes);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    private static Map<String, TensorInfo> parseHeader(byte[] header, String label, long dataSize,
                                                       Map<String, String> meta) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(header)).toString();
        } catch (CharacterCodingException e) {
            throw new SafeTensorsException(label + ": header is not valid UTF-8 (" + e.getMessage() + ")", e);
        }
        if (!text.startsWith("{")) {
            throw new SafeTensorsException(label + ": header does not start with '{' (starts with "
                    + quoteSnippet(text) + ")");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new SafeTensorsException(label + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new SafeTensorsException(label + ": header is not a JSON object");
        }
        Map<String, TensorInfo> infos = new LinkedHashMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = root.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new SafeTensorsException(label + ": __metadata__ must be an object of strings, got " + v.getNodeType());
                v.fields().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) {
                        throw new SafeTensorsException(label + ": __metadata__ entry '" + m.getKey()
                                + "' must be a string, got " + m.getValue().getNodeType());
                    }
                    meta.put(m.getKey(), m.getValue().textValue());
                });
                continue;
            }
            infos.put(name, parseEntry(name, v, label, dataSize));
        }
        checkNoOverlap(infos, label);
        return infos;
    }

    private static TensorInfo parseEntry(String name, JsonNode v, String label, long dataSize) {
        String where = label + ": tensor '" + name + "'";
        if (!v.isObject()) throw new SafeTensorsException(where + " must be an object, got " + v.getNodeType());
        JsonNode dt = v.get("dtype");
        if (dt == null || !dt.isTextual()) throw new SafeTensorsException(where + " has no string 'dtype'");
        DType dtype = DType.fromHeader(dt.textValue());
        if (dtype == null) {
            throw new SafeTensorsException(where + " has unknown dtype '" + dt.textValue() + "' (known: " + DType.known() + ")");
        }
        JsonNode sh = v.get("shape");
        if (sh == null || !sh.isArray()) throw new SafeTensorsException(where + " has no 'shape' array");
        long[] shape = new long[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.longValue() < 0) {
                throw new SafeTensorsException(where + " has invalid shape " + sh + ": dimension " + i
                        + " must be a non-negative integer");
            }
            shape[i] = d.longValue();
        }
        long bytes;
        try {
            for (long s : shape) numel = Math.multiplyExact(numel, s);
            bytes = Math.multiplyExact(numel, (long) dtype.size());
        } catch (ArithmeticException ex) {
            throw new SafeTensorsException(where + " has shape " + sh + " whose byte size overflows 64 bits");
        }
        JsonNode off = v.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2
                || !isNonNegativeLong(off.get(0)) || !isNonNegativeLong(off.get(1))) {
            throw new SafeTensorsException(where + " needs 'data_offsets' [begin, end] of two non-negative integers, got " + off);
        }
        long begin = off.get(0).longValue();
        long end = off.get(1).longValue();
        if (begin > end) {
            throw new SafeTensorsException(where + " has data_offsets [" + begin + ", " + end + "] with begin > end");
        }
        if (end > dataSize) {
            throw new SafeTensorsException(where + " has data_offsets [" + begin + ", " + end
                    + "] past the end of the data section (" + dataSize + " bytes); file truncated?");
        }
        if (end - begin != bytes) {
            throw new SafeTensorsException(where + " has shape " + Arrays.toString(shape) + " × " + dtype + " = "
                    + bytes + " bytes but data_offsets span " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static boolean isNonNegativeLong(JsonNode n) {
        return n != null && n.isIntegralNumber() && n.canConvertToLong() && n.longValue() >= 0;
    }

    private static void checkNoOverlap(Map<String, TensorInfo> infos, String label) {
        List<TensorInfo> sorted = new ArrayList<>(infos.values());
        sorted.removeIf(t -> t.byteLength() == 0); // empty tensors occupy no bytes and cannot overlap
        sorted.sort(Comparator.comparingLong(TensorInfo::begin));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo a = sorted.get(i - 1), b = sorted.get(i);
            if (b.begin() < a.end()) {
                throw new SafeTensorsException(label + ": tensor '" + b.name() + "' [" + b.begin() + ", " + b.end()
                        + ") overlaps tensor '" + a.name() + "' [" + a.begin() + ", " + a.end() + ")");
            }
        }
    }

    public Path path() {
        return path;
    }

    /** Tensor names in header order (the Python library writes them sorted). */
    public Set<String> names() {
        return tensors.keySet();
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** The header entry of this tensor; throws naming the file and some existing keys when absent. */
    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new SafeTensorsException(label + ": no tensor '" + name + "' (" + tensors.size()
                    + " tensors, e.g. " + examples(tensors.keySet(), 5) + ")");
        }
        return t;
    }

    /** The string→string {@code __metadata__} map (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Byte offset of the data section in the file (8 + header length). */
    public long dataStart() {
        return dataStart;
    }

    /**
     * The tensor as a float32 array of its shape (c order). F16 and BF16 widen exactly; F64 narrows with
     * rounding; integers and BOOL convert to their float value (I64 above 2^24 loses precision).
     */
    public INDArray readFloat32(String name) {
        TensorInfo t = info(name);
        long numel = t.numel();
        long[] shape = t.shape();
        if (numel == 0) return Nd4j.create(DataType.FLOAT, shape);
        int chunkElems = chunkBytes / t.dtype().size();
        if (numel <= chunkElems) {
            float[] data = new float[(int) numel];
            readChunk(t, 0, (int) numel, data);
            return Nd4j.create(data, shape, 'c');
        }
        // Large tensor: fill an uninitialised flat array chunk by chunk so the heap never holds the whole tensor.
        INDArray flat = Nd4j.createUninitialized(DataType.FLOAT, numel);
        float[] buf = new float[chunkElems];
        for (long start = 0; start < numel; start += chunkElems) {
            int n = (int) Math.min(chunkElems, numel - start);
            float[] data = n == chunkElems ? buf : new float[n];
            readChunk(t, start, n, data);
            flat.get(NDArrayIndex.interval(start, start + n)).assign(Nd4j.createFromArray(data));
        }
        return flat.reshape('c', shape);
    }

    /**
     * The tensor in its stored precision, memory-mapped in chunks of whole rows (no copy: page cache, not heap);
     * closing it unmaps them. F32, F16 and BF16 are mapped; other dtypes are read into a float32 array first.
     */
    public StoredTensor stored(String name) {
        TensorInfo t = info(name);
        Precision p = switch (t.dtype()) {
            case F32 -> Precision.F32;
            case F16 -> Precision.F16;
            case BF16 -> Precision.BF16;
            default -> null;
        };
        if (p == null) return StoredTensor.of(name, readFloat32(name));
        long[] shape = t.shape();
        long rows = shape.length >= 2 ? shape[0] : 1;
        long cols = rows == 0 ? 0 : t.numel() / rows;
        int perChunk = StoredTensor.rowsPerChunk(cols, p);
        int count = rows == 0 ? 0 : (int) ((rows + perChunk - 1) / perChunk);
        MappedByteBuffer[] chunks = new MappedByteBuffer[count];
        try {
            for (int k = 0; k < count; k++) {
                long fromRow = (long) k * perChunk;
                long n = Math.min(perChunk, rows - fromRow) * cols;
                chunks[k] = map(t, fromRow * cols, Math.toIntExact(n));
            }
        } catch (RuntimeException e) {
            for (MappedByteBuffer b : chunks) if (b != null) Unmapper.unmap(b);
            throw e;
        }
        return StoredTensor.of(name, p, shape, chunks, () -> {
            for (MappedByteBuffer b : chunks) Unmapper.unmap(b);
        }, () -> {
            for (MappedByteBuffer b : chunks) PageCache.dropPages(b);
        });
    }

    /** Integer tensor (I64, I32, I16, I8, U8, BOOL) as a flat long[] in c order. */
    public long[] readLongs(String name) {
        TensorInfo t = info(name);
        if (t.dtype().isFloating()) {
            throw new SafeTensorsException(label + ": tensor '" + name + "' is " + t.dtype() + ", not an integer tensor");
        }
        long numel = t.numel();
        if (numel > Integer.MAX_VALUE - 8) throw tooLarge(t, "long[]");
        long[] out = new long[(int) numel];
        forEachChunk(t, (bb, offset, n) -> {
            for (int i = 0; i < n; i++) out[offset + i] = integerAt(bb, t.dtype(), i);
        });
        return out;
    }

    /** Integer tensor as a flat int[]; I64 values must fit in an int. */
    public int[] readInts(String name) {
        long[] l = readLongs(name);
        int[] out = new int[l.length];
        for (int i = 0; i < l.length; i++) {
            if (l[i] != (int) l[i]) {
                throw new SafeTensorsException(label + ": tensor '" + name + "' value " + l[i] + " at index " + i + " does not fit in an int");
            }
            out[i] = (int) l[i];
        }
        return out;
    }

    /**
     * The tensor in an ND4J dtype matching its storage (F16 → HALF, BF16 → BFLOAT16, I64 → LONG, BOOL → BOOL …),
     * values exact. Float types are built through float32, which represents f16/bf16 exactly.
     */
    public INDArray readAsIs(String name) {
        TensorInfo t = info(name);
        long[] shape = t.shape();
        switch (t.dtype()) {
            case F32: return readFloat32(name);
            case F16: return readFloat32(name).castTo(DataType.HALF);
            case BF16: return readFloat32(name).castTo(DataType.BFLOAT16);
            case F64: {
                if (t.numel() > Integer.MAX_VALUE - 8) throw tooLarge(t, "double[]");
                double[] d = new double[(int) t.numel()];
                forEachChunk(t, (bb, offset, n) -> {
                    for (int i = 0; i < n; i++) d[offset + i] = bb.getDouble(i * 8);
                });
                return t.numel() == 0 ? Nd4j.create(DataType.DOUBLE, shape) : Nd4j.create(d, shape, 'c');
            }
            default: {
                long[] l = readLongs(name);
                if (l.length == 0) return Nd4j.create(ndType(t.dtype()), shape);
                return Nd4j.createFromArray(l).reshape('c', shape).castTo(ndType(t.dtype()));
            }
        }
    }

    private static DataType ndType(DType d) {
        switch (d) {
            case I64: return DataType.LONG;
            case I32: return DataType.INT;
            case I16: return DataType.SHORT;
            case I8: return DataType.BYTE;
            case U8: return DataType.UBYTE;
            case BOOL: return DataType.BOOL;
            case F64: return DataType.DOUBLE;
            case F32: return DataType.FLOAT;
            case F16: return DataType.HALF;
            default: return DataType.BFLOAT16;
        }
    }

    private SafeTensorsException tooLarge(TensorInfo t, String what) {
        return new SafeTensorsException(label + ": tensor '" + t.name() + "' has " + t.numel() + " elements, too many for a Java " + what);
    }

    private static long integerAt(ByteBuffer bb, DType d, int i) {
        switch (d) {
            case I64: return bb.getLong(i * 8);
            case I32: return bb.getInt(i * 4);
            case I16: return bb.getShort(i * 2);
            case I8: return bb.get(i);
            case U8: return bb.get(i) & 0xFF;
            case BOOL: return bb.get(i) != 0 ? 1 : 0;
            default: throw new IllegalStateException(d.name());
        }
    }

    private interface ChunkConsumer {
        void accept(ByteBuffer littleEndian, int elementOffset, int elements);
    }

    /** Maps the tensor chunk by chunk (each ≤ CHUNK_BYTES) and hands each mapping to the consumer. */
    private void forEachChunk(TensorInfo t, ChunkConsumer c) {
        int chunkElems = chunkBytes / t.dtype().size();
        long numel = t.numel();
        for (long start = 0; start < numel; start += chunkElems) {
            int n = (int) Math.min(chunkElems, numel - start);
            MappedByteBuffer bb = map(t, start, n);
            try {
                c.accept(bb, (int) start, n);
            } finally {
                Unmapper.unmap(bb);
            }
        }
    }

    /** Converts elements [start, start+n) of the tensor into out[0..n). */
    private void readChunk(TensorInfo t, long start, int n, float[] out) {
        MappedByteBuffer bb = map(t, start, n);
        try {
            switch (t.dtype()) {
                case F32: bb.asFloatBuffer().get(out, 0, n); break;
                case F64: for (int i = 0; i < n; i++) out[i] = (float) bb.getDouble(i * 8); break;
                case BF16: for (int i = 0; i < n; i++) out[i] = HalfFloats.bf16ToFloat(bb.getShort(i * 2)); break;
                case F16: for (int i = 0; i < n; i++) out[i] = HalfFloats.halfToFloat(bb.getShort(i * 2)); break;
                default: for (int i = 0; i < n; i++) out[i] = integerAt(bb, t.dtype(), i); break;
            }
        } finally {
            Unmapper.unmap(bb);
        }
    }

    private MappedByteBuffer map(TensorInfo t, long startElem, int n) {
        long offset = dataStart + t.begin() + startElem * t.dtype().size();
        long len = (long) n * t.dtype().size();
        try {
            MappedByteBuffer bb = channel.map(FileChannel.MapMode.READ_ONLY, offset, len);
            bb.order(ByteOrder.LITTLE_ENDIAN);
            PageCache.adviseHugePages(bb);
            return bb;
        } catch (IOException | RuntimeException e) {
            throw new SafeTensorsException(label + ": tensor '" + t.name() + "': cannot map bytes [" + offset + ", "
                    + (offset + len) + ") of the file (" + e + ")", e);
        }
    }

    private static long size(FileChannel ch, Path path) {
        try {
            return ch.size();
        } catch (IOException e) {
            throw new SafeTensorsException(path + ": cannot stat (" + e + ")", e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, String label) {
        try {
            while (buf.hasRemaining()) {
                int r = ch.read(buf, pos + buf.position());
                if (r < 0) throw new SafeTensorsException(label + ": unexpected end of file while reading the header");
            }
        } catch (IOException e) {
            throw new SafeTensorsException(label + ": read error (" + e + ")", e);
        }
    }

    static String examples(Set<String> names, int max) {
        List<String> l = new ArrayList<>();
        for (String s : names) {
            if (l.size() == max) {
                l.add("…");
                break;
            }
            l.add(s);
        }
        return l.toString();
    }

    private static String quoteSnippet(String s) {
        String head = s.length() > 20 ? s.substring(0, 20) + "…" : s;
        return "'" + head.replaceAll("\\p{Cntrl}", "?") + "'";
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // already failing with a better message
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new SafeTensorsException(label + ": close failed (" + e + ")", e);
        }
    }

    /** Unmaps a mapping now (see {@link Unmapper}). */
    static void unmap(MappedByteBuffer mapping) {
        Unmapper.unmap(mapping);
    }

    /**
     * Releases a mapping right away instead of when the GC finds it: reading a 15 GB checkpoint would otherwise
     * keep every chunk mapped until a collection. Uses sun.misc.Unsafe.invokeCleaner (jdk.unsupported, present
     * in every JDK 9+); when unavailable the mapping is simply left to the GC.
     */
    private static final class Unmapper {
        private static final Object UNSAFE;
        private static final Method INVOKE_CLEANER;

        static {
            Object u = null;
            Method m = null;
            try {
                Class<?> c = Class.forName("sun.misc.Unsafe");
                Field f = c.getDeclaredField("theUnsafe");
                f.setAccessible(true);
                u = f.get(null);
                m = c.getMethod("invokeCleaner", ByteBuffer.class);
            } catch (ReflectiveOperationException | RuntimeException e) {
                u = null;
                m = null;
            }
            UNSAFE = u;
            INVOKE_CLEANER = m;
        }

        static void unmap(MappedByteBuffer bb) {
            if (INVOKE_CLEANER == null) return;
            try {
                INVOKE_CLEANER.invoke(UNSAFE, bb);
            } catch (ReflectiveOperationException | RuntimeException ignored) {
                // fall back to GC-driven unmapping
            }
        }
    }
}
