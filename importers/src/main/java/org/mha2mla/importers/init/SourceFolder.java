package org.mha2mla.importers.init;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** Files of a model folder, read from disk or from the resources bundled with the project under a prefix. */
record SourceFolder(Path dir, String resourcePrefix, String description) {

    static SourceFolder onDisk(Path dir) {
        return new SourceFolder(dir, null, dir.toString());
    }

    /** {@code prefix} is an absolute resource path ending in '/'. */
    static SourceFolder bundled(String prefix, String description) {
        return new SourceFolder(null, prefix, description);
    }

    /** The file's text (UTF-8), if the folder has it. */
    Optional<String> read(String name) {
        try {
            if (dir != null) {
                Path f = dir.resolve(name);
                return Files.isRegularFile(f) ? Optional.of(Files.readString(f, StandardCharsets.UTF_8)) : Optional.empty();
            }
            try (InputStream in = SourceFolder.class.getResourceAsStream(resourcePrefix + name)) {
                return in == null ? Optional.empty() : Optional.of(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(description + "/" + name + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    boolean has(String name) {
        if (dir != null) return Files.isRegularFile(dir.resolve(name));
        return SourceFolder.class.getResource(resourcePrefix + name) != null;
    }

    @Override
    public String toString() {
        return description;
    }
}
