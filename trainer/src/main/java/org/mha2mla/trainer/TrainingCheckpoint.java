package org.mha2mla.trainer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.trainer.data.ExampleStream;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Everything an exact resume needs, one directory per checkpoint under a root:
 * <pre>
 *   root/step-00000100/trainable.safetensors   trainable parameters, float32 (frozen ones equal the base model)
 *   root/step-00000100/optimizer.safetensors   AdamW exp_avg.NAME / exp_avg_sq.NAME, float32; metadata step
 *   root/step-00000100/state.json              step, schedule, data position and counters, seed, elapsed time
 *   root/latest                                name of the newest complete checkpoint
 * </pre>
 * Written so a kill at any moment leaves the previous checkpoint loadable: all files go into a hidden temporary
 * directory and are fsynced, the directory is renamed into place (atomic on one file system), and only then is
 * {@code latest} replaced (temp file, fsync, atomic rename). Older checkpoints are removed after that, keeping the
 * newest {@code keep}. Loading follows {@code latest} and falls back to the newest complete {@code step-*}
 * directory. Parameters are stored in float32 whatever the model's storage dtype, so the resumed weights are
 * bitwise those of the uninterrupted run.
 */
public final class TrainingCheckpoint {

    public static final String LATEST = "latest";
    public static final String PARAMS = "trainable.safetensors";
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String STATE = "state.json";
    static final String EXP_AVG = "exp_avg.";
    static final String EXP_AVG_SQ = "exp_avg_sq.";
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private TrainingCheckpoint() {
    }

    /**
     * The scalar state of a run at a checkpoint.
     *
     * @param step           optimizer updates done
     * @param stage          "1", "2" or a custom mask's name
     * @param trainable      the trainable parameter names (checked on resume)
     * @param schedule       the LR schedule (checked on resume: changing it mid-run breaks the loss sequence)
     * @param seed           the data-order seed; with {@code data.position} it fixes every later sample
     * @param data           the example stream's position and counters
     * @param tokens         input tokens processed so far
     * @param elapsedSeconds training time so far (continued by the resumed run's log)
     */
    public record State(long step, String stage, List<String> trainable, LrSchedule schedule, AdamW.Config adam, long seed,
                        ExampleStream.State data, long tokens, double elapsedSeconds) {
    }

    /** A checkpoint read back. */
    public record Loaded(Path dir, State state, Map<String, INDArray> params, long adamStep, Map<String, INDArray> expAvg,
                         Map<String, INDArray> expAvgSq) {
    }

    /** Called after each file of a checkpoint is complete; tests throw from it to simulate a kill. */
    @FunctionalInterface
    interface Hook {
        void after(String what);
    }

    /** Writes a checkpoint of {@code state}, {@code params} and {@code optimizer} under {@code root}; returns its directory. */
    public static Path write(Path root, State state, Map<String, INDArray> params, AdamW optimizer, int keep) {
        return write(root, state, params, optimizer, keep, what -> { });
    }

    static Path write(Path root, State state, Map<String, INDArray> params, AdamW optimizer, int keep, Hook hook) {
        if (keep < 1) throw new IllegalArgumentException("must keep at least one checkpoint, got " + keep);
        String name = dirName(state.step());
        Path target = root.resolve(name);
        try {
            Files.createDirectories(root);
            Path tmp = Files.createTempDirectory(root, ".tmp-" + name + "-");
            SafeTensorsWriter.write(tmp.resolve(PARAMS), new LinkedHashMap<>(params), Map.of("format", "pt"), DType.F32);
            hook.after(PARAMS);
            SafeTensorsWriter.write(tmp.resolve(OPTIMIZER), momentEntries(optimizer), Map.of("step", Long.toString(optimizer.step())));
            hook.after(OPTIMIZER);
            writeSynced(tmp.resolve(STATE), JSON.writeValueAsBytes(state));
            hook.after(STATE);
            fsync(tmp);
            Path old = null;
            if (Files.exists(target)) {
                // The same step written again (a resumed run reaching it once more): set the old one aside first.
                old = root.resolve(".old-" + name + "-" + System.nanoTime());
                move(target, old);
            }
            move(tmp, target);
            fsync(root);
            hook.after("rename");
            Path latestTmp = root.resolve(LATEST + ".tmp");
            writeSynced(latestTmp, (name + "\n").getBytes(StandardCharsets.UTF_8));
            move(latestTmp, root.resolve(LATEST));
            fsync(root);
            hook.after(LATEST);
            if (old != null) deleteTree(old);
            prune(root, keep, target);
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(root + ": writing checkpoint " + name + " failed (" + e + ")", e);
        }
    }

    /**
     * The optimizer's moments as writer entries; moments kept on disk are read one at a time and freed when the writer
     * asks for the next (a 7B run's moments are gigabytes, which ND4J would free only when the JVM collects them).
     */
    private static List<SafeTensorsWriter.Entry> momentEntries(AdamW optimizer) {
        INDArray[] read = new INDArray[1];
        List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
        for (int which = 0; which < 2; which++) {
            for (String name : optimizer.names()) {
                boolean first = which == 0;
                entries.add(new SafeTensorsWriter.Entry((first ? EXP_AVG : EXP_AVG_SQ) + name, DType.F32, optimizer.shape(name), () -> {
                    if (optimizer.onDisk() && read[0] != null) read[0].close();
                    read[0] = first ? optimizer.firstMoment(name) : optimizer.secondMoment(name);
                    return read[0];
                }));
            }
        }
        return entries;
    }

    /** The newest complete checkpoint under {@code root}, if any. */
    public static Optional<Path> latest(Path root) {
        if (!Files.isDirectory(root)) return Optional.empty();
        Path pointer = root.resolve(LATEST);
        if (Files.isRegularFile(pointer)) {
            try {
                Path dir = root.resolve(Files.readString(pointer, StandardCharsets.UTF_8).trim());
                if (isComplete(dir)) return Optional.of(dir);
            } catch (IOException | java.nio.file.InvalidPathException ignored) {
                // fall back to scanning
            }
        }
        return completeCheckpoints(root).stream().reduce((a, b) -> b);
    }

    /** Reads the checkpoint in {@code dir}. */
    public static Loaded load(Path dir) {
        if (!isComplete(dir)) {
            throw new IllegalArgumentException(dir + ": not a complete checkpoint (needs " + PARAMS + ", " + OPTIMIZER + ", " + STATE + ")");
        }
        try {
            State state = JSON.readValue(dir.resolve(STATE).toFile(), State.class);
            Map<String, INDArray> params = new LinkedHashMap<>();
            try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(PARAMS))) {
                for (String n : f.names()) params.put(n, f.readFloat32(n));
            }
            Map<String, INDArray> m = new LinkedHashMap<>();
            Map<String, INDArray> v = new LinkedHashMap<>();
            long adamStep;
            try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(OPTIMIZER))) {
                String step = f.metadata().get("step");
                if (step == null) throw new IllegalArgumentException(dir.resolve(OPTIMIZER) + ": metadata has no 'step'");
                adamStep = Long.parseLong(step);
                for (String n : f.names()) {
                    if (n.startsWith(EXP_AVG_SQ)) {
                        v.put(n.substring(EXP_AVG_SQ.length()), f.readFloat32(n));
                    } else if (n.startsWith(EXP_AVG)) {
                        m.put(n.substring(EXP_AVG.length()), f.readFloat32(n));
                    } else {
                        throw new IllegalArgumentException(dir.resolve(OPTIMIZER) + ": unexpected tensor '" + n + "'");
                    }
                }
            }
            return new Loaded(dir, state, params, adamStep, m, v);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot read checkpoint (" + e + ")", e);
        }
    }

    static String dirName(long step) {
        return String.format(Locale.ROOT, "step-%08d", step);
    }

    private static boolean isComplete(Path dir) {
        return Files.isRegularFile(dir.resolve(STATE)) && Files.isRegularFile(dir.resolve(PARAMS))
                && Files.isRegularFile(dir.resolve(OPTIMIZER));
    }

    /** Complete step-* directories, oldest first. */
    private static List<Path> completeCheckpoints(Path root) {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) {
                if (STEP_DIR.matcher(p.getFileName().toString()).matches() && isComplete(p)) out.add(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(root + ": cannot list checkpoints", e);
        }
        out.sort(Comparator.comparingLong(TrainingCheckpoint::stepOf));
        return out;
    }

    private static long stepOf(Path dir) {
        Matcher m = STEP_DIR.matcher(dir.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /** Keeps the newest {@code keep} checkpoints (always {@code current}) and removes abandoned temporary dirs. */
    private static void prune(Path root, int keep, Path current) throws IOException {
        List<Path> all = completeCheckpoints(root);
        for (int i = 0; i < all.size() - keep; i++) {
            if (!all.get(i).equals(current)) deleteTree(all.get(i));
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, ".{tmp,old}-step-*")) {
            for (Path p : ds) deleteTree(p);
        }
    }

    private static void writeSynced(Path file, byte[] bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(bytes);
            while (buf.hasRemaining()) ch.write(buf);
            ch.force(true);
        }
    }

    /** fsync of a directory, so the renames in it survive a crash (a no-op where the OS refuses it). */
    private static void fsync(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException ignored) {
            // Windows cannot open directories; the rename is still atomic there.
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
