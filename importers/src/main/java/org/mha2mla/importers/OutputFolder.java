package org.mha2mla.importers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The one output-folder policy of every command that writes a folder ({@code convert}, {@code train}, {@code eval},
 * {@code init}): nothing a user had is overwritten without {@code --overwrite}.
 *
 * <ul>
 *   <li>Paths are compared after resolving symbolic links: an output that is an input, or that contains one, is
 *       refused, with or without {@code overwrite} (an {@code --out} linking to {@code --model} would otherwise
 *       overwrite the input's weights).</li>
 *   <li>A command writes into an absent or empty folder, or into one it created itself earlier (the {@link #MARKER}
 *       file says which command and whether it finished). Any other non-empty folder is refused unless
 *       {@code overwrite} is set; a one-shot command's own finished output too.</li>
 *   <li>A one-shot command ({@code convert}, {@code init}) always writes the temporary sibling
 *       {@code .<name>.mha2mla-partial}; {@link #commit} renames it into place (an existing folder is renamed aside
 *       first and deleted after). A failure or a kill before that leaves the old folder as it was, and no half-written
 *       output at {@code --out}; {@link #discard} removes the partial folder after a failure.</li>
 *   <li>A resumable command ({@code train}, {@code eval}) keeps state in its folder while it runs: it writes a fresh
 *       folder in place and continues its own earlier folder (complete or not). Replacing a folder ({@code overwrite}
 *       on a foreign folder, or on its own without {@code resume}) goes through the partial sibling, which a later run
 *       with {@code resume} continues.</li>
 * </ul>
 * Use: {@code OutputFolder f = OutputFolder.of("init", out).overwrite(flag).open();} (inputs with {@code .input(option, path)}), write
 * into {@code f.dir()}, then {@code f.commit()} (or {@code f.discard()} when the command fails).
 */
public final class OutputFolder {

    /** The file (JSON: command, state) that marks a folder as written by a command. */
    public static final String MARKER = ".mha2mla-output";
    static final String PARTIAL = ".mha2mla-partial";
    static final String REPLACED = ".mha2mla-replaced";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String command;
    private final Path out;
    private final Path dir;
    private final boolean continuing;
    private final boolean resumable;

    private OutputFolder(String command, Path out, Path dir, boolean continuing, boolean resumable) {
        this.command = command;
        this.out = out;
        this.dir = dir;
        this.continuing = continuing;
        this.resumable = resumable;
    }

    /** The request of {@code command} ("convert", "train", …) to write the folder {@code out} ({@code --out}). */
    public static Request of(String command, Path out) {
        return new Request(command, out);
    }

    /** Options of one request; {@link #open} applies the policy. */
    public static final class Request {
        private final String command;
        private final Path out;
        private final Map<String, Path> inputs = new LinkedHashMap<>();
        private boolean overwrite;
        private boolean resumable;
        private boolean resume = true;
        private Predicate<Path> earlierOutput = dir -> false;

        private Request(String command, Path out) {
            this.command = command;
            this.out = out;
        }

        /** An input ({@code --model}, {@code --data} …) the output must not be, nor contain; null is ignored. */
        public Request input(String option, Path path) {
            if (path != null) inputs.put(option, path);
            return this;
        }

        /** Replace a non-empty folder this command did not write (the user's {@code --overwrite}). */
        public Request overwrite(boolean v) {
            overwrite = v;
            return this;
        }

        /**
         * The command keeps state in its folder while it runs (train's checkpoints, eval's prediction logs): it writes
         * a fresh folder in place and continues a folder it wrote earlier. One-shot commands (the default) always
         * write the temporary sibling.
         */
        public Request resumable(boolean v) {
            resumable = v;
            return this;
        }

        /**
         * For a resumable command: continue an unfinished temporary sibling, and keep the own earlier folder even with
         * {@code overwrite} (default true); false starts over ({@code train} without {@code --resume}).
         */
        public Request resume(boolean v) {
            resume = v;
            return this;
        }

        /** Recognises this command's output written before folders carried the {@link #MARKER}. */
        public Request earlierOutput(Predicate<Path> v) {
            earlierOutput = v;
            return this;
        }

        /** Applies the policy; the folder to write is {@link OutputFolder#dir()}. */
        public OutputFolder open() {
            return OutputFolder.open(this);
        }
    }

    private static OutputFolder open(Request r) {
        Path out = resolve(r.out);
        for (Map.Entry<String, Path> in : r.inputs.entrySet()) {
            Path input = resolve(in.getValue());
            if (out.equals(input)) {
                throw new IllegalArgumentException("--out " + r.out + " is " + in.getKey() + " " + in.getValue()
                        + (out.equals(r.out.toAbsolutePath().normalize()) ? "" : " (after resolving links: " + out + ")")
                        + "; choose another --out");
            }
            if (input.startsWith(out)) {
                throw new IllegalArgumentException(in.getKey() + " " + in.getValue() + " lies inside --out " + r.out
                        + "; choose an --out that does not contain the input");
            }
        }
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new IllegalArgumentException("--out " + r.out + " exists and is not a folder");
        }
        boolean empty = isEmpty(out);
        boolean ours = !empty && ownedBy(out, r);
        if (!empty && !ours && !r.overwrite) {
            throw new IllegalArgumentException("--out " + r.out + " is not empty (" + listing(out) + ") and "
                    + describeOwner(out, r.command) + "; choose another --out or pass --overwrite to replace it");
        }
        if (ours && !r.resumable && !r.overwrite && complete(out)) {
            throw new IllegalArgumentException("--out " + r.out + " holds the output of an earlier `mha2mla " + r.command
                    + "`; choose another --out or pass --overwrite to replace it");
        }
        // In place: a resumable command's fresh folder, or its own earlier output (continued unless replaced).
        boolean inPlace = r.resumable && (empty || (ours && (r.resume || !r.overwrite)));
        Path partial = out.resolveSibling("." + out.getFileName() + PARTIAL);
        try {
            if (inPlace) {
                Files.createDirectories(out);
                if (empty) writeMarker(out, r.command, false);
                return new OutputFolder(r.command, out, out, !empty, true);
            }
            boolean continuing = false;
            if (Files.exists(partial, LinkOption.NOFOLLOW_LINKS)) {
                if (!Files.isDirectory(partial, LinkOption.NOFOLLOW_LINKS) || !r.command.equals(markerField(partial, "command"))) {
                    throw new IllegalArgumentException(partial + " is in the way of the temporary folder of `mha2mla " + r.command
                            + "` and was not written by it; move it away");
                }
                if (r.resumable && r.resume) {
                    continuing = true;
                } else {
                    deleteRecursively(partial);         // an unfinished attempt this run replaces
                }
            }
            if (!continuing) {
                Files.createDirectories(partial);
                writeMarker(partial, r.command, false);
            }
            return new OutputFolder(r.command, out, partial, continuing, r.resumable);
        } catch (IOException e) {
            throw new UncheckedIOException(r.out + ": cannot prepare the output folder (" + e.getMessage() + ")", e);
        }
    }

    /** Where the command writes now: {@code --out} itself, or the temporary sibling that {@link #commit} renames. */
    public Path dir() {
        return dir;
    }

    /** The output folder as given, links resolved. */
    public Path out() {
        return out;
    }

    /** Whether {@link #dir()} holds an earlier run's output of this command, to be continued. */
    public boolean continuing() {
        return continuing;
    }

    /**
     * Marks the output complete and, when it was written to the temporary sibling, moves it into place: an existing
     * folder is renamed aside, the new one renamed in, then the old one deleted. Returns the output folder.
     */
    public Path commit() {
        try {
            writeMarker(dir, command, true);
            if (dir.equals(out)) return out;
            Files.createDirectories(out.getParent());
            if (Files.isDirectory(out) && isEmpty(out)) Files.delete(out);
            if (Files.exists(out)) {
                Path old = out.resolveSibling("." + out.getFileName() + REPLACED);
                if (Files.exists(old, LinkOption.NOFOLLOW_LINKS)) deleteRecursively(old);
                Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
                Files.move(dir, out, StandardCopyOption.ATOMIC_MOVE);
                deleteRecursively(old);
            } else {
                Files.move(dir, out, StandardCopyOption.ATOMIC_MOVE);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot move the finished output into place from " + dir + " (" + e.getMessage() + ")", e);
        }
    }

    /**
     * After a failure of a one-shot command: deletes its unfinished temporary sibling (nothing else). A resumable
     * command's folder is kept: it is where a later run continues.
     */
    public void discard() {
        if (resumable || dir.equals(out)) return;
        try {
            deleteRecursively(dir);
        } catch (IOException e) {
            // Best effort: the next run of the command removes its own stale sibling.
        }
    }

    // ---- the marker ----

    private static boolean ownedBy(Path dir, Request r) {
        String marked = markerField(dir, "command");
        return marked != null ? marked.equals(r.command) : r.earlierOutput.test(dir);
    }

    private static boolean complete(Path dir) {
        return "complete".equals(markerField(dir, "state")) || !Files.exists(dir.resolve(MARKER));
    }

    private static String describeOwner(Path dir, String command) {
        String marked = markerField(dir, "command");
        return marked == null ? "was not written by `mha2mla " + command + "`"
                : "holds the output of `mha2mla " + marked + "`, not of `mha2mla " + command + "`";
    }

    /** A field of {@code dir}'s marker, or null when there is no readable marker. */
    static String markerField(Path dir, String field) {
        Path marker = dir.resolve(MARKER);
        if (!Files.isRegularFile(marker, LinkOption.NOFOLLOW_LINKS)) return null;
        try {
            JsonNode n = JSON.readTree(marker.toFile());
            return n != null && n.hasNonNull(field) ? n.get(field).asText() : null;
        } catch (IOException e) {
            return null;
        }
    }

    private static void writeMarker(Path dir, String command, boolean complete) throws IOException {
        ObjectNode n = JSON.createObjectNode();
        n.put("command", command);
        n.put("state", complete ? "complete" : "running");
        n.put("note", "written by mha2mla " + command + "; a later `mha2mla " + command + "` may continue or replace this folder");
        Path tmp = dir.resolve(MARKER + ".tmp");
        Files.writeString(tmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
        Files.move(tmp, dir.resolve(MARKER), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    // ---- paths ----

    /**
     * The absolute path with every symbolic link resolved, also for a path that does not exist yet (its longest
     * existing ancestor is resolved and the rest appended).
     */
    public static Path resolve(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        Path existing = abs;
        List<Path> rest = new ArrayList<>();
        while (existing != null && !Files.exists(existing)) {
            rest.add(0, existing.getFileName());
            existing = existing.getParent();
        }
        if (existing == null) return abs;
        try {
            Path real = existing.toRealPath();
            for (Path name : rest) real = real.resolve(name);
            return real;
        } catch (IOException e) {
            return abs;
        }
    }

    private static boolean isEmpty(Path dir) {
        if (!Files.isDirectory(dir)) return !Files.exists(dir);
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            return !s.iterator().hasNext();
        } catch (NoSuchFileException e) {
            return true;
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot list (" + e.getMessage() + ")", e);
        }
    }

    private static String listing(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = s.map(p -> p.getFileName().toString()).sorted().toList();
            return names.size() <= 4 ? String.join(", ", names) : String.join(", ", names.subList(0, 4)) + ", … " + names.size() + " entries";
        } catch (IOException e) {
            return "unlistable";
        }
    }

    /** Deletes a folder and everything under it; links are deleted, not followed. */
    static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
