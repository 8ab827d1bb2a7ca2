package org.mha2mla.importers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * What a path that should be a regular file is instead, for one-line messages ("model.safetensors is a FIFO, not a
 * regular file" rather than "no model.safetensors … (found model.safetensors)"). Reading a FIFO or a device such as
 * {@code /dev/zero} would block or never end, so such paths are refused before they are opened.
 */
public final class FileKind {

    private FileKind() {
    }

    /** "is a folder", "is a FIFO (named pipe)", "is a character device (a link to /dev/zero)", … ; null for a regular file. */
    public static String unlessRegular(Path p) {
        if (Files.isRegularFile(p)) return null;
        String link = "";
        if (Files.isSymbolicLink(p)) {
            String target;
            try {
                target = String.valueOf(Files.readSymbolicLink(p));
            } catch (IOException e) {
                target = "an unreadable target";
            }
            if (!Files.exists(p)) return "is a broken link to " + target;
            link = " (a link to " + target + ")";
        }
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) return "does not exist";
        if (Files.isDirectory(p)) return "is a folder" + link;
        String kind = "is not a regular file";
        try {
            int mode = (Integer) Files.getAttribute(p, "unix:mode");
            kind = switch (mode & 0170000) {
                case 0010000 -> "is a FIFO (named pipe)";
                case 0020000 -> "is a character device";
                case 0060000 -> "is a block device";
                case 0140000 -> "is a socket";
                default -> kind;
            };
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | ClassCastException e) {
            // Not a POSIX file system: the generic wording stays.
        }
        return kind + link;
    }

    /** Throws {@code error(path + " " + kind + ", not a regular file")} unless {@code p} is a regular file (links followed). */
    public static void requireRegular(Path p, java.util.function.Function<String, RuntimeException> error) {
        String kind = unlessRegular(p);
        if (kind != null) throw error.apply(p + " " + kind + (kind.startsWith("does not") ? "" : ", not a regular file"));
    }
}
