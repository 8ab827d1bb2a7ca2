package org.mha2mla.importers.init;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Where {@code init} writes: the folder is built as a hidden temporary sibling of {@code --out} and renamed into place
 * when complete, so an interrupted run never leaves a half-written model under the real name. {@link #requireUsable}
 * is the policy for an existing {@code --out} (kept in one place so that one policy can serve every command).
 */
final class OutputFolder {

    private OutputFolder() {
    }

    /** An existing non-empty {@code out} is refused unless {@code overwrite}; a regular file always. */
    static void requireUsable(Path out, boolean overwrite) {
        if (!Files.exists(out)) return;
        if (!Files.isDirectory(out)) throw new IllegalArgumentException("--out " + out + " is a file, not a folder");
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(out)) {
            int n = 0;
            String example = null;
            for (Path p : ds) {
                if (example == null) example = p.getFileName().toString();
                n++;
            }
            if (n > 0 && !overwrite) {
                throw new IllegalArgumentException("--out " + out + " is not empty (" + n + " entries, e.g. " + example
                        + "); choose another folder or pass --overwrite to replace it");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("--out " + out + ": cannot list (" + e.getMessage() + ")", e);
        }
    }

    /** A new empty hidden folder beside {@code out}, on the same file system, so the final rename is atomic. */
    static Path stagingFor(Path out) {
        Path abs = out.toAbsolutePath().normalize();
        try {
            Files.createDirectories(abs.getParent());
            return Files.createTempDirectory(abs.getParent(), "." + abs.getFileName() + ".init-");
        } catch (IOException e) {
            throw new UncheckedIOException(abs.getParent() + ": cannot create a folder beside --out (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Moves the finished {@code staged} folder to {@code out}, readable as a folder made by mkdir is (temporary folders
     * and files are created owner-only). An existing {@code out} (allowed by --overwrite) is first renamed aside and
     * deleted only once the new folder is in place.
     */
    static void commit(Path staged, Path out) {
        Path abs = out.toAbsolutePath().normalize();
        Path old = null;
        try {
            if (Files.getFileAttributeView(staged, PosixFileAttributeView.class) != null) {
                Files.setPosixFilePermissions(staged, PosixFilePermissions.fromString("rwxr-xr-x"));
                try (DirectoryStream<Path> ds = Files.newDirectoryStream(staged)) {
                    for (Path f : ds) Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
                }
            }
            if (Files.exists(abs)) {
                old = Files.createTempDirectory(abs.getParent(), "." + abs.getFileName() + ".replaced-");
                Files.delete(old);
                move(abs, old);
            }
            move(staged, abs);
        } catch (IOException e) {
            throw new UncheckedIOException(abs + ": cannot move the finished folder into place (" + e.getMessage()
                    + "); it is in " + staged + (old != null ? ", the previous one in " + old : ""), e);
        }
        if (old != null) deleteRecursively(old);
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to);
        }
    }

    /** Removes a folder this class created (the staging folder after a failure, a replaced folder after success). */
    static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) return;
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    if (e != null) throw e;
                    Files.delete(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot delete (" + e.getMessage() + ")", e);
        }
    }
}
