package org.mha2mla.evaluation.benchmarks.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.Type;
import org.mha2mla.evaluation.benchmarks.Doc;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * Reads hub parquet files (as written by pyarrow for 🤗 datasets) into {@link Doc}s, one row group at a time.
 * Columns become JSON the way {@code datasets} hands them to lmms-eval: strings, numbers, booleans, lists
 * ({@code sequence}) and dicts (structs). An {@code Image} feature is the struct {@code {bytes, path}}: its
 * bytes go to {@link Doc#images()} and the field keeps {@code {"path", "image_index"}}.
 */
public final class ParquetRows {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private ParquetRows() {
    }

    /** Rows of the files in order; without images the image columns are projected away and never read. */
    public static Stream<Doc> stream(List<Path> files, boolean withImages) {
        RowIterator it = new RowIterator(files, withImages);
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(it, Spliterator.ORDERED | Spliterator.NONNULL), false)
                .onClose(it::close);
    }

    /** All rows of the files. */
    public static List<Doc> read(List<Path> files, boolean withImages) {
        try (Stream<Doc> s = stream(files, withImages)) {
            return s.toList();
        }
    }

    /** The hub's {@code Image} feature: a plain struct with exactly the fields bytes and path. */
    static boolean isImageStruct(Type t) {
        if (t.isPrimitive() || t.getLogicalTypeAnnotation() != null) {
            return false;
        }
        GroupType g = t.asGroupType();
        return g.getFieldCount() == 2 && g.containsField("bytes") && g.containsField("path");
    }

    /** An image, or a list ({@code sequence}) of images as in SEED-Bench. */
    static boolean isImageColumn(Type t) {
        if (isImageStruct(t)) {
            return true;
        }
        if (!t.isPrimitive() && t.getLogicalTypeAnnotation() instanceof LogicalTypeAnnotation.ListLogicalTypeAnnotation) {
            Type repeated = t.asGroupType().getType(0);
            Type element = !repeated.isPrimitive() && repeated.asGroupType().getFieldCount() == 1
                    ? repeated.asGroupType().getType(0) : repeated;
            return isImageStruct(element);
        }
        return false;
    }

    static MessageType withoutImages(MessageType schema) {
        List<Type> kept = new ArrayList<>();
        for (Type t : schema.getFields()) {
            if (!isImageColumn(t)) {
                kept.add(t);
            }
        }
        return new MessageType(schema.getName(), kept);
    }

    /** One record to JSON, collecting image bytes. */
    static ObjectNode toJson(Group row, List<byte[]> images, String where) {
        return struct(row, row.getType(), images, where);
    }

    private static ObjectNode struct(Group g, GroupType type, List<byte[]> images, String where) {
        ObjectNode out = JSON.objectNode();
        for (int i = 0; i < type.getFieldCount(); i++) {
            Type field = type.getType(i);
            int n = g.getFieldRepetitionCount(i);
            if (field.isRepetition(Type.Repetition.REPEATED)) {
                ArrayNode arr = JSON.arrayNode();
                for (int j = 0; j < n; j++) {
                    arr.add(value(g, i, j, field, images, where));
                }
                out.set(field.getName(), arr);
            } else {
                out.set(field.getName(), n == 0 ? JSON.nullNode() : value(g, i, 0, field, images, where));
            }
        }
        return out;
    }

    private static JsonNode value(Group g, int field, int index, Type type, List<byte[]> images, String where) {
        if (type.isPrimitive()) {
            return primitive(g, field, index, type.asPrimitiveType(), where);
        }
        Group child = g.getGroup(field, index);
        GroupType ct = type.asGroupType();
        LogicalTypeAnnotation ann = ct.getLogicalTypeAnnotation();
        if (ann instanceof LogicalTypeAnnotation.ListLogicalTypeAnnotation) {
            return list(child, ct, images, where);
        }
        if (ann instanceof LogicalTypeAnnotation.MapLogicalTypeAnnotation) {
            return map(child, ct, images, where);
        }
        if (isImageStruct(ct)) {
            return image(child, ct, images, where);
        }
        return struct(child, ct, images, where);
    }

    /** LIST: the 3-level form (repeated group with one element field); 2-level legacy forms are the element itself. */
    private static ArrayNode list(Group list, GroupType type, List<byte[]> images, String where) {
        ArrayNode arr = JSON.arrayNode();
        Type repeated = type.getType(0);
        int n = list.getFieldRepetitionCount(0);
        boolean threeLevel = !repeated.isPrimitive() && repeated.asGroupType().getFieldCount() == 1
                && !repeated.getName().equals("array") && !repeated.getName().equals(type.getName() + "_tuple");
        for (int j = 0; j < n; j++) {
            if (threeLevel) {
                Group wrapper = list.getGroup(0, j);
                Type element = repeated.asGroupType().getType(0);
                arr.add(wrapper.getFieldRepetitionCount(0) == 0 ? JSON.nullNode()
                        : value(wrapper, 0, 0, element, images, where));
            } else {
                arr.add(value(list, 0, j, repeated, images, where));
            }
        }
        return arr;
    }

    private static ObjectNode map(Group map, GroupType type, List<byte[]> images, String where) {
        ObjectNode out = JSON.objectNode();
        GroupType kv = type.getType(0).asGroupType();
        for (int j = 0; j < map.getFieldRepetitionCount(0); j++) {
            Group entry = map.getGroup(0, j);
            String key = value(entry, 0, 0, kv.getType(0), images, where).asText();
            out.set(key, entry.getFieldRepetitionCount(1) == 0 ? JSON.nullNode()
                    : value(entry, 1, 0, kv.getType(1), images, where));
        }
        return out;
    }

    private static ObjectNode image(Group img, GroupType type, List<byte[]> images, String where) {
        int bytesField = type.getFieldIndex("bytes");
        int pathField = type.getFieldIndex("path");
        ObjectNode out = JSON.objectNode();
        String path = img.getFieldRepetitionCount(pathField) == 0 ? null : img.getBinary(pathField, 0).toStringUsingUTF8();
        out.put("path", path);
        if (img.getFieldRepetitionCount(bytesField) == 0) {
            throw new IllegalStateException(where + ": image without embedded bytes (path " + path
                    + "); re-download the parquet files from the hub, which embed them");
        }
        out.put("image_index", images.size());
        images.add(img.getBinary(bytesField, 0).getBytes());
        return out;
    }

    private static JsonNode primitive(Group g, int field, int index, PrimitiveType type, String where) {
        LogicalTypeAnnotation ann = type.getLogicalTypeAnnotation();
        switch (type.getPrimitiveTypeName()) {
            case BOOLEAN:
                return JSON.booleanNode(g.getBoolean(field, index));
            case INT32:
                return JSON.numberNode(g.getInteger(field, index));
            case INT64:
                return JSON.numberNode(g.getLong(field, index));
            case FLOAT:
                return JSON.numberNode(g.getFloat(field, index));
            case DOUBLE:
                return JSON.numberNode(g.getDouble(field, index));
            case BINARY:
            case FIXED_LEN_BYTE_ARRAY:
                if (ann instanceof LogicalTypeAnnotation.StringLogicalTypeAnnotation
                        || ann instanceof LogicalTypeAnnotation.EnumLogicalTypeAnnotation
                        || ann instanceof LogicalTypeAnnotation.JsonLogicalTypeAnnotation) {
                    return JSON.textNode(g.getBinary(field, index).toStringUsingUTF8());
                }
                return JSON.binaryNode(g.getBinary(field, index).getBytes());
            default:
                throw new IllegalStateException(where + ": unsupported parquet column type " + type);
        }
    }

    private static final class RowIterator implements Iterator<Doc> {
        private final List<Path> files;
        private final boolean withImages;
        private int fileIndex = -1;
        private ParquetFileReader reader;
        private MessageType fileSchema;
        private MessageType requested;
        private RecordReader<Group> records;
        private long rowsLeft;
        private long rowInFile;

        RowIterator(List<Path> files, boolean withImages) {
            this.files = List.copyOf(files);
            this.withImages = withImages;
        }

        @Override
        public boolean hasNext() {
            try {
                while (rowsLeft == 0) {
                    if (reader != null) {
                        PageReadStore rowGroup = reader.readNextRowGroup();
                        if (rowGroup != null) {
                            records = new ColumnIOFactory().getColumnIO(requested, fileSchema)
                                    .getRecordReader(rowGroup, new GroupRecordConverter(requested));
                            rowsLeft = rowGroup.getRowCount();
                            continue;
                        }
                        reader.close();
                        reader = null;
                    }
                    if (++fileIndex >= files.size()) {
                        return false;
                    }
                    reader = ParquetFileReader.open(new LocalInputFile(files.get(fileIndex)));
                    fileSchema = reader.getFooter().getFileMetaData().getSchema();
                    requested = withImages ? fileSchema : withoutImages(fileSchema);
                    reader.setRequestedSchema(requested);
                    rowInFile = 0;
                }
                return true;
            } catch (IOException e) {
                Path file = files.get(Math.max(fileIndex, 0));
                throw new UncheckedIOException(file + ": cannot read (" + e.getClass().getSimpleName() + ")", e);
            } catch (RuntimeException | LinkageError e) {
                // LinkageError: a damaged column chunk can name a codec whose Hadoop classes parquet-floor leaves out.
                throw unreadable(files.get(Math.max(fileIndex, 0)).toString(), e);
            }
        }

        /**
         * A file parquet cannot read, named by its path: parquet-mr's own messages name a Java object
         * ("LocalInputFile@67207d8a is not a Parquet file"), which says nothing to the user.
         */
        private static IllegalArgumentException unreadable(String file, Throwable e) {
            String cause = String.valueOf(e.getMessage()).replaceAll("(org\\.apache\\.parquet\\.io\\.)?LocalInputFile@[0-9a-f]+", "the file");
            // The original is kept for --verbose as a suppressed exception: as a cause its message would be printed again.
            IllegalArgumentException x = new IllegalArgumentException(file + ": not a readable Parquet file (" + e.getClass().getSimpleName()
                    + ": " + cause.replaceAll("\\s*\\R\\s*", " ") + ")");
            x.addSuppressed(e);
            return x;
        }

        @Override
        public Doc next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            String where = files.get(fileIndex) + " row " + rowInFile;
            rowsLeft--;
            rowInFile++;
            try {
                Group row = records.read();
                List<byte[]> images = new ArrayList<>();
                return new Doc(toJson(row, images, where), images);
            } catch (RuntimeException e) {
                if (String.valueOf(e.getMessage()).startsWith(where)) throw e;    // this reader's own refusals name the row
                throw unreadable(where, e);
            } catch (LinkageError e) {
                throw unreadable(where, e);
            }
        }

        void close() {
            if (reader != null) {
                try {
                    reader.close();
                } catch (IOException e) {
                    throw new UncheckedIOException(files.get(fileIndex) + ": cannot close", e);
                }
                reader = null;
            }
        }
    }
}
