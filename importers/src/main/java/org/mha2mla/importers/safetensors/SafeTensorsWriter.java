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
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
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
 */
public final class SafeTensorsWriter {
    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String SINGLE_FILE = "model.safetensors";
    private static final Pattern SHARD_NAME = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");
    private static final int CHUNK_ELEMS = 1 << 20;

    private SafeTensorsWriter() {
    }

    /**
     * One tensor to write. The data is only asked for when its bytes are written, so a whole model can be
     * streamed from a checkpoint one tensor at a time; the supplied array must have {@code shape}.
     */
    public record Entry(String name, DType dtype, long[] shape, Supplier<INDArray> data) {
        public Entry {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long byteLength() {
            long n = dtype.size();
            for (long s : shape) n = Math.multiplyExact(n, s);
            return n;
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
        byte[] header = header(file, entries, metadata);
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK_ELEMS * 8).order(ByteOrder.LITTLE_ENDIAN);
                for (Entry e : entries) writeData(ch, buf, e, file);
                ch.force(true);
            }
            moveAtomically(tmp, file);
            tmp = null;
        } catch (IOException e) {
            throw new SafeTensorsException(file + ": write failed (" + e + ")", e);
        } finally {
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
     * Writes {@code dir/model-0000i-of-0000n.safetensors} shards of at most {@code maxShardBytes} each (a
     * larger tensor gets a shard of its own, as in huggingface_hub's split_torch_state_dict_into_shards) and
     * {@code model.safetensors.index.json}. With a single shard it writes {@code model.safetensors} and no index,
     * as save_pretrained does. Shard or index files of an earlier save that the new one does not use are removed.
     *
     * @return the index file, or model.safetensors when one shard sufficed
     */
    public static Path writeSharded(Path dir, Map<String, INDArray> tensors, Map<String, String> metadata,
                                    DType floatStorage, long maxShardBytes) {
        return writeSharded(dir, entries(tensors, floatStorage), metadata, maxShardBytes);
    }

    public static Path writeSharded(Path dir, List<Entry> entries, Map<String, String> metadata, long maxShardBytes) {
        if (maxShardBytes <= 0) throw new SafeTensorsException(dir + ": maxShardBytes must be positive, got " + maxShardBytes);
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long currentBytes = 0, total = 0;
        for (Entry e : entries) {
            long b = e.byteLength();
            total += b;
            if (!current.isEmpty() && currentBytes + b > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(e);
            currentBytes += b;
        }
        if (!current.isEmpty() || shards.isEmpty()) shards.add(current);

        Set<String> written = new HashSet<>();
        Path result;
        if (shards.size() == 1) {
            result = dir.resolve(SINGLE_FILE);
            write(result, shards.get(0), metadata);
            written.add(SINGLE_FILE);
        } else {
            Map<String, String> weightMap = new TreeMap<>(); // transformers writes the index with sort_keys=True
            for (int i = 0; i < shards.size(); i++) {
                String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                write(dir.resolve(name), shards.get(i), metadata);
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

    private static void writeData(FileChannel ch, ByteBuffer buf, Entry e, Path file) throws IOException {
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
            writeFully(ch, buf);
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
