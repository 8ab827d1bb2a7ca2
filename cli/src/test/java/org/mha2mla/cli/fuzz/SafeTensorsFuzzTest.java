package org.mha2mla.cli.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.weights.Checkpoint;

/**
 * Mutated safetensors files (header fields, header length, bytes anywhere, truncation) through the reader and the
 * model-folder checkpoint. An accepted file must read back exactly what an independent decoder (written here from
 * the format's description) reads from the same bytes.
 */
class SafeTensorsFuzzTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final String[] DTYPES = {"F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "f32", "F8", "", "X"};

    @TempDir
    Path tmp;

    @Test
    void mutatedFilesAreRefusedClearlyOrReadExactly() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        Path file = dir.resolve("model.safetensors");
        Fuzz fuzz = new Fuzz("safetensors", line -> line.contains(file.toString()));
        Random r = Fuzz.random("safetensors");
        byte[] base = baseFile();
        int n = Fuzz.cases(2000);
        for (int i = 0; i < n; i++) {
            byte[] bytes = r.nextInt(3) == 0 ? mutateBytes(base, r) : mutateHeader(base, r);
            Files.write(file, bytes);
            boolean viaFolder = r.nextBoolean();
            fuzz.check("case " + i, () -> {
                if (viaFolder) {
                    try (Checkpoint c = Checkpoint.open(dir)) {
                        for (String name : c.names()) c.info(name);
                    }
                }
                try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
                    checkAgainstReference(f, bytes);
                }
            }, file);
        }
        fuzz.finish();
    }

    /** Eight tensors of every kind the reader handles: float widths, integers, BOOL, a scalar and an empty tensor. */
    static byte[] baseFile() throws Exception {
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        ObjectNode header = F.objectNode();
        header.putObject("__metadata__").put("format", "pt");
        Random r = new Random(7);
        Object[][] tensors = {{"w.f32", "F32", new long[] {2, 3}}, {"w.f16", "F16", new long[] {4}}, {"w.bf16", "BF16", new long[] {2, 2}},
                {"w.f64", "F64", new long[] {2}}, {"ids", "I64", new long[] {3}}, {"mask", "BOOL", new long[] {2}}, {"u", "U8", new long[] {3}},
                {"scalar", "F32", new long[] {}}, {"empty", "F32", new long[] {0, 4}}};
        for (Object[] t : tensors) {
            long numel = 1;
            for (long d : (long[]) t[2]) numel *= d;
            int size = DType.valueOf((String) t[1]).size();
            byte[] b = new byte[(int) numel * size];
            r.nextBytes(b);
            ObjectNode e = header.putObject((String) t[0]);
            e.put("dtype", (String) t[1]);
            ArrayNode shape = e.putArray("shape");
            for (long d : (long[]) t[2]) shape.add(d);
            e.putArray("data_offsets").add(data.size()).add(data.size() + b.length);
            data.write(b);
        }
        return assemble(JSON.writeValueAsBytes(header), data.toByteArray(), 0);
    }

    static byte[] assemble(byte[] header, byte[] data, long lengthDelta) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length + lengthDelta).put(header).put(data);
        return b.array();
    }

    private static final Object[] NUMBERS = {-1L, 0L, 1L, 2L, 3L, 4L, 7L, 24L, 1L << 31, 1L << 40, Long.MAX_VALUE, 2.5, 1e20, "2", null};

    static JsonNode number(Random r) {
        Object v = NUMBERS[r.nextInt(NUMBERS.length)];
        if (v == null) return F.nullNode();
        if (v instanceof Long l) return F.numberNode(l);
        if (v instanceof Double d) return F.numberNode(d);
        return F.textNode((String) v);
    }

    /** One to three structural edits of the header JSON; the length prefix is then right, off by a little, or left as it was. */
    static byte[] mutateHeader(byte[] file, Random r) throws Exception {
        long n = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        ObjectNode header = (ObjectNode) JSON.readTree(Arrays.copyOfRange(file, 8, 8 + (int) n));
        byte[] data = Arrays.copyOfRange(file, 8 + (int) n, file.length);
        List<String> names = new ArrayList<>();
        header.fieldNames().forEachRemaining(names::add);
        for (int edits = 1 + r.nextInt(3); edits > 0; edits--) {
            String name = names.get(r.nextInt(names.size()));
            JsonNode entry = header.get(name);
            if (!(entry instanceof ObjectNode e) || name.equals("__metadata__")) {
                switch (r.nextInt(3)) {
                    case 0 -> header.put("__metadata__", 5);
                    case 1 -> header.putObject("__metadata__").putArray("format").add(1);
                    default -> header.set(name, number(r));
                }
                continue;
            }
            switch (r.nextInt(8)) {
                case 0 -> e.put("dtype", DTYPES[r.nextInt(DTYPES.length)]);
                case 1 -> {
                    ArrayNode shape = e.putArray("shape");
                    for (int k = r.nextInt(4); k > 0; k--) shape.add(number(r));
                }
                case 2 -> {
                    ArrayNode off = e.putArray("data_offsets");
                    for (int k = r.nextInt(4); k > 0; k--) off.add(number(r));
                }
                case 3 -> e.remove(List.of("dtype", "shape", "data_offsets").get(r.nextInt(3)));
                case 4 -> header.set(name, number(r));
                case 5 -> {                                          // another tensor's offsets: overlap
                    JsonNode other = header.get(names.get(r.nextInt(names.size())));
                    if (other != null && other.has("data_offsets")) e.set("data_offsets", other.get("data_offsets").deepCopy());
                }
                case 6 -> header.set(r.nextBoolean() ? "" : "x".repeat(1 + r.nextInt(300)) + "\u00e9\u0000", e.deepCopy());
                default -> {
                    JsonNode off = e.get("data_offsets");
                    if (off != null && off.size() == 2) {
                        long delta = r.nextInt(9) - 4;
                        e.putArray("data_offsets").add(off.get(0).asLong() + (r.nextBoolean() ? delta : 0)).add(off.get(1).asLong() + delta);
                    }
                }
            }
        }
        byte[] h = JSON.writeValueAsBytes(header);
        if (r.nextInt(4) == 0) h = (new String(h, StandardCharsets.UTF_8) + "   ").getBytes(StandardCharsets.UTF_8);
        long delta = r.nextInt(5) == 0 ? r.nextInt(7) - 3 : 0;
        byte[] d = r.nextInt(6) == 0 ? Arrays.copyOf(data, Math.max(0, data.length - 1 - r.nextInt(8))) : data;
        return assemble(h, d, delta);
    }

    /** Byte flips anywhere, a random length prefix, truncation, or appended bytes. */
    static byte[] mutateBytes(byte[] file, Random r) {
        byte[] b = file.clone();
        switch (r.nextInt(5)) {
            case 0 -> {
                for (int k = 1 + r.nextInt(8); k > 0; k--) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
            }
            case 1 -> {
                long[] lengths = {0, 1, 2, b.length, Long.MAX_VALUE, -1, 100_000_001, 1L << 33};
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, lengths[r.nextInt(lengths.length)]);
            }
            case 2 -> b = Arrays.copyOf(b, r.nextInt(b.length));
            case 3 -> {
                byte[] tail = new byte[1 + r.nextInt(64)];
                r.nextBytes(tail);
                b = Arrays.copyOf(b, b.length + tail.length);
                System.arraycopy(tail, 0, b, file.length, tail.length);
            }
            default -> b[8 + r.nextInt(40)] = (byte) (0x80 | r.nextInt(0x40));     // invalid UTF-8 in the header
        }
        return b;
    }

    /** The reader's view of an accepted file equals the reference decoding of the same bytes. */
    static void checkAgainstReference(SafeTensorsFile f, byte[] bytes) throws Exception {
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        JsonNode header = JSON.readTree(new String(bytes, 8, (int) n, StandardCharsets.UTF_8));
        int dataStart = 8 + (int) n;
        TreeSet<String> expected = new TreeSet<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> t = it.next();
            if (t.getKey().equals("__metadata__")) continue;
            expected.add(t.getKey());
            String dtype = t.getValue().get("dtype").asText();
            int begin = dataStart + t.getValue().get("data_offsets").get(0).asInt();
            int end = dataStart + t.getValue().get("data_offsets").get(1).asInt();
            ByteBuffer bb = ByteBuffer.wrap(bytes, begin, end - begin).slice().order(ByteOrder.LITTLE_ENDIAN);
            DType d = DType.valueOf(dtype);
            int count = (end - begin) / d.size();
            if (d.isFloating()) {
                org.nd4j.linalg.api.ndarray.INDArray a = f.readFloat32(t.getKey());
                float[] got = a.length() == 0 ? new float[0] : a.reshape(a.length()).toFloatVector();
                float[] want = new float[count];
                for (int i = 0; i < count; i++) {
                    want[i] = switch (d) {
                        case F64 -> (float) bb.getDouble(8 * i);
                        case F32 -> bb.getFloat(4 * i);
                        case F16 -> half(bb.getShort(2 * i));
                        default -> Float.intBitsToFloat((bb.getShort(2 * i) & 0xFFFF) << 16);
                    };
                }
                assertEquals(count, got.length, t.getKey());
                for (int i = 0; i < count; i++) {
                    if (Float.compare(want[i], got[i]) != 0 && !(Float.isNaN(want[i]) && Float.isNaN(got[i]))) {
                        throw new AssertionError(t.getKey() + "[" + i + "] read " + got[i] + ", the bytes hold " + want[i]);
                    }
                }
            } else {
                long[] got = f.readLongs(t.getKey());
                long[] want = new long[count];
                for (int i = 0; i < count; i++) {
                    want[i] = switch (d) {
                        case I64 -> bb.getLong(8 * i);
                        case I32 -> bb.getInt(4 * i);
                        case I16 -> bb.getShort(2 * i);
                        case I8 -> bb.get(i);
                        case U8 -> bb.get(i) & 0xFF;
                        default -> bb.get(i) == 0 ? 0 : 1;
                    };
                }
                if (!Arrays.equals(want, got)) throw new AssertionError(t.getKey() + " read " + Arrays.toString(got) + ", the bytes hold "
                        + Arrays.toString(want));
            }
        }
        assertEquals(expected, new TreeSet<>(f.names()));
    }

    /** IEEE 754 binary16, from its definition. */
    static float half(short h) {
        int s = (h >> 15) & 1;
        int e = (h >> 10) & 0x1F;
        int m = h & 0x3FF;
        double v = e == 0 ? m * Math.pow(2, -24) : e == 31 ? (m == 0 ? Double.POSITIVE_INFINITY : Double.NaN)
                : (1 + m / 1024.0) * Math.pow(2, e - 15);
        return (float) (s == 1 ? -v : v);
    }
}
