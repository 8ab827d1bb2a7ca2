package org.mha2mla.importers.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.FileKind;
import org.mha2mla.importers.safetensors.SafeTensorsException;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.safetensors.TensorInfo;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The weights of a Hugging Face model folder: {@code model.safetensors}, or the shards listed by
 * {@code model.safetensors.index.json} ({"metadata": {"total_size": N}, "weight_map": {key: shard file}}).
 * Every shard header is opened and checked on {@link #open}, so a missing shard or a key absent from its
 * shard fails at once with the index, shard and key in the message, not halfway through building a model.
 */
public final class Checkpoint implements TensorSource {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path location;
    private final Map<String, SafeTensorsFile> fileOf; // key → the shard holding it, in weight_map order
    private final List<SafeTensorsFile> files;

    private Checkpoint(Path location, Map<String, SafeTensorsFile> fileOf, List<SafeTensorsFile> files) {
        this.location = location;
        this.fileOf = Collections.unmodifiableMap(fileOf);
        this.files = List.copyOf(files);
    }

    /**
     * Opens a model folder (index preferred over a single file, as transformers does), a single
     * {@code .safetensors} file, or an {@code *.index.json} file.
     */
    public static Checkpoint open(Path path) {
        if (Files.isDirectory(path)) {
            Path index = path.resolve(INDEX_FILE);
            if (Files.isRegularFile(index)) return openIndex(index);
            Path single = path.resolve(SINGLE_FILE);
            if (Files.isRegularFile(single)) return openFile(single);
            for (Path p : new Path[] {index, single}) {
                if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) FileKind.requireRegular(p, SafeTensorsException::new);
            }
            throw new SafeTensorsException(path + ": no " + SINGLE_FILE + " or " + INDEX_FILE + " in this folder (found "
                    + listing(path) + ")");
        }
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) throw new SafeTensorsException(path + ": no such file or folder");
        FileKind.requireRegular(path, SafeTensorsException::new);
        if (path.getFileName().toString().endsWith(".json")) return openIndex(path);
        return openFile(path);
    }

    private static Checkpoint openFile(Path file) {
        SafeTensorsFile f = SafeTensorsFile.open(file);
        Map<String, SafeTensorsFile> map = new LinkedHashMap<>();
        for (String n : f.names()) map.put(n, f);
        return new Checkpoint(file, map, List.of(f));
    }

    private static Checkpoint openIndex(Path index) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (IOException e) {
            throw new SafeTensorsException(index + ": not a readable JSON file (" + e.getMessage() + ")", e);
        }
        JsonNode wm = root == null ? null : root.get("weight_map");
        if (wm == null || !wm.isObject()) throw new SafeTensorsException(index + ": no \"weight_map\" object");
        if (wm.size() == 0) throw new SafeTensorsException(index + ": \"weight_map\" is empty");
        Path dir = index.toAbsolutePath().getParent();

        // Group keys by shard first, so each missing shard is reported once with an example key.
        Map<String, List<String>> keysByShard = new TreeMap<>();
        Map<String, String> shardOfKey = new LinkedHashMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = wm.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new SafeTensorsException(index + ": weight_map entry '" + e.getKey() + "' must be a file name, got " + e.getValue());
            }
            String shard = e.getValue().textValue();
            // Shards live beside the index; refuse paths that would read elsewhere.
            if (shard.isEmpty() || shard.contains("/") || shard.contains("\\") || shard.equals("..") || shard.equals(".")) {
                throw new SafeTensorsException(index + ": weight_map entry '" + e.getKey() + "' names shard '" + shard
                        + "', which is not a plain file name");
            }
            keysByShard.computeIfAbsent(shard, s -> new ArrayList<>()).add(e.getKey());
            shardOfKey.put(e.getKey(), shard);
        }
        List<String> missing = new ArrayList<>();
        for (String shard : keysByShard.keySet()) {
            if (!Files.isRegularFile(dir.resolve(shard))) {
                missing.add(shard + " (holds " + keysByShard.get(shard).size() + " tensors, e.g. '" + keysByShard.get(shard).get(0) + "')");
            }
        }
        if (!missing.isEmpty()) {
            throw new SafeTensorsException(index + ": missing shard file(s) in " + dir + ": " + String.join(", ", missing));
        }
        Map<String, SafeTensorsFile> opened = new LinkedHashMap<>();
        try {
            for (String shard : keysByShard.keySet()) {
                SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(shard));
                opened.put(shard, f);
                for (String key : keysByShard.get(shard)) {
                    if (!f.contains(key)) {
                        throw new SafeTensorsException(index + ": weight_map puts '" + key + "' in " + shard
                                + ", but " + f.path() + " has no such tensor (it has " + f.names().size() + " tensors)");
                    }
                }
            }
        } catch (RuntimeException e) {
            opened.values().forEach(SafeTensorsFile::close);
            throw e;
        }
        Map<String, SafeTensorsFile> fileOf = new LinkedHashMap<>();
        shardOfKey.forEach((k, s) -> fileOf.put(k, opened.get(s)));
        return new Checkpoint(index, fileOf, new ArrayList<>(opened.values()));
    }

    @Override
    public String description() {
        return location.toString();
    }

    /** The folder's index or single file this checkpoint was opened from. */
    public Path location() {
        return location;
    }

    /** The opened files (one, or one per shard). */
    public List<SafeTensorsFile> files() {
        return files;
    }

    /** The {@code __metadata__} of the first file (for a single file: its metadata). */
    public Map<String, String> metadata() {
        return files.get(0).metadata();
    }

    @Override
    public Set<String> names() {
        return fileOf.keySet();
    }

    @Override
    public boolean contains(String name) {
        return fileOf.containsKey(name);
    }

    @Override
    public TensorInfo info(String name) {
        return fileFor(name).info(name);
    }

    @Override
    public INDArray get(String name) {
        return fileFor(name).readFloat32(name);
    }

    @Override
    public StoredTensor stored(String name) {
        return fileFor(name).stored(name);
    }

    @Override
    public long[] getLongs(String name) {
        return fileFor(name).readLongs(name);
    }

    private SafeTensorsFile fileFor(String name) {
        SafeTensorsFile f = fileOf.get(name);
        if (f == null) {
            throw new SafeTensorsException(location + ": no tensor '" + name + "' (" + fileOf.size() + " tensors, e.g. "
                    + examples(fileOf.keySet()) + ")");
        }
        return f;
    }

    static String examples(Set<String> names) {
        List<String> l = new ArrayList<>();
        for (String s : names) {
            if (l.size() == 5) {
                l.add("…");
                break;
            }
            l.add(s);
        }
        return l.toString();
    }

    private static String listing(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = s.map(p -> p.getFileName().toString()).sorted().limit(10).toList();
            return names.isEmpty() ? "nothing" : String.join(", ", names);
        } catch (IOException e) {
            return "unlistable: " + e.getMessage();
        }
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (SafeTensorsFile f : files) {
            try {
                f.close();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }
}
