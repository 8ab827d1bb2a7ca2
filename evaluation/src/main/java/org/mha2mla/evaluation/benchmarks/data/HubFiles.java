package org.mha2mla.evaluation.benchmarks.data;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Finds a split's data files in a local copy of a hub dataset repository (what
 * {@code huggingface-cli download lmms-lab/POPE --repo-type dataset --local-dir DIR} leaves, or the
 * {@code refs/convert/parquet} layout {@code <config>/<split>/0000.parquet}).
 */
public final class HubFiles {
    private HubFiles() {
    }

    /**
     * Files under {@code root} whose path relative to it matches one of the globs, sorted (shard order).
     * A root that is itself the folder of the shards works too: the globs' file-name parts that name the
     * split ({@code test-*.parquet}) are then tried on files directly under it.
     */
    public static List<Path> find(Path root, List<String> globs) throws IOException {
        if (!Files.isDirectory(root)) {
            throw new IOException("dataset directory not found: " + root);
        }
        List<PathMatcher> matchers = new ArrayList<>();
        List<PathMatcher> nameMatchers = new ArrayList<>();
        for (String g : globs) {
            matchers.add(FileSystems.getDefault().getPathMatcher("glob:" + g));
            String name = g.substring(g.lastIndexOf('/') + 1);
            if (!name.startsWith("*")) {
                // "test-*.parquet" identifies a split by itself; "*.parquet" (converted layout) does not.
                nameMatchers.add(FileSystems.getDefault().getPathMatcher("glob:" + name));
            }
        }
        List<Path> all;
        try (Stream<Path> walk = Files.walk(root)) {
            all = walk.filter(Files::isRegularFile).sorted().toList();
        }
        List<Path> found = match(root, all, matchers, false);
        if (found.isEmpty()) {
            found = match(root, all, nameMatchers, true);
        }
        if (found.isEmpty()) {
            throw new IOException("no data files matching " + globs + " under " + root + " (found "
                    + all.stream().limit(20).map(p -> root.relativize(p).toString()).toList() + ")");
        }
        return found;
    }

    private static List<Path> match(Path root, List<Path> files, List<PathMatcher> matchers, boolean topLevelOnly) {
        List<Path> out = new ArrayList<>();
        for (Path p : files) {
            Path rel = root.relativize(p);
            if (topLevelOnly && rel.getNameCount() != 1) {
                continue;
            }
            for (PathMatcher m : matchers) {
                if (m.matches(rel)) {
                    out.add(p);
                    break;
                }
            }
        }
        return out;
    }
}
