package org.mha2mla.importers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OutputFolderTest {

    @TempDir
    Path tmp;

    /** Every file under {@code dir} with its content: what must stay unchanged. */
    private static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) m.put(dir.relativize(p).toString(), Files.readString(p));
        }
        return m;
    }

    private Path userModel() throws IOException {
        Path model = Files.createDirectories(tmp.resolve("user-model"));
        Files.writeString(model.resolve("config.json"), "{\"mine\": true}");
        Files.writeString(model.resolve("model-00001-of-00002.safetensors"), "weights");
        return model;
    }

    private static String refusal(OutputFolder.Request r) {
        return assertThrows(IllegalArgumentException.class, r::open).getMessage();
    }

    @Test
    void aFolderOfUserFilesIsRefusedAndLeftAsItWas() throws IOException {
        Path model = userModel();
        Map<String, String> before = snapshot(model);
        String m = refusal(OutputFolder.of("convert", model));
        assertTrue(m.startsWith("--out " + model + " is not empty (config.json, model-00001-of-00002.safetensors) and was not written by "
                + "`mha2mla convert`; choose another --out or pass --overwrite"), m);
        m = refusal(OutputFolder.of("train", model).resumable(true));
        assertTrue(m.contains("was not written by `mha2mla train`"), m);
        assertEquals(before, snapshot(model));
    }

    @Test
    void anOutputThatIsAnInputAfterResolvingLinksIsRefused() throws IOException {
        Path model = userModel();
        Path link = Files.createSymbolicLink(tmp.resolve("link"), model);
        String m = refusal(OutputFolder.of("train", link).input("--model", model).resumable(true).overwrite(true));
        assertEquals("--out " + link + " is --model " + model + " (after resolving links: " + model.toRealPath() + "); choose another --out", m);
        m = refusal(OutputFolder.of("convert", tmp).input("--model", model).overwrite(true));
        assertTrue(m.startsWith("--model " + model + " lies inside --out " + tmp), m);
        Files.writeString(tmp.resolve("file"), "x");
        assertEquals("--out " + tmp.resolve("file") + " exists and is not a folder", refusal(OutputFolder.of("eval", tmp.resolve("file"))));
        assertEquals(Map.of("config.json", "{\"mine\": true}", "model-00001-of-00002.safetensors", "weights"), snapshot(model));
    }

    @Test
    void aOneShotCommandWritesASiblingAndRenamesItIntoPlace() throws IOException {
        Path out = tmp.resolve("a/b/converted");
        OutputFolder f = OutputFolder.of("convert", out).open();
        assertEquals(out.getParent().toRealPath().resolve(".converted.mha2mla-partial"), f.dir());
        assertFalse(Files.exists(out), "nothing at --out until the output is complete");
        Files.writeString(f.dir().resolve("model.safetensors"), "new");
        Path committed = f.commit();
        assertEquals(out.toRealPath(), committed);
        assertEquals("new", Files.readString(out.resolve("model.safetensors")));
        assertEquals("complete", OutputFolder.markerField(out, "state"));
        assertFalse(Files.exists(f.dir()));
        // Its own complete output is not replaced without --overwrite.
        assertTrue(refusal(OutputFolder.of("convert", out)).contains("holds the output of an earlier `mha2mla convert`"));
        assertTrue(refusal(OutputFolder.of("train", out).resumable(true)).contains("holds the output of `mha2mla convert`, not of `mha2mla train`"));
    }

    @Test
    void overwriteKeepsTheOldFolderUntilTheNewOneIsComplete() throws IOException {
        Path model = userModel();
        OutputFolder f = OutputFolder.of("convert", model).overwrite(true).open();
        Files.writeString(f.dir().resolve("model.safetensors"), "new");
        // A failure (or kill -9) here: the user's folder is untouched; the next attempt discards the partial one.
        assertEquals(Map.of("config.json", "{\"mine\": true}", "model-00001-of-00002.safetensors", "weights"), snapshot(model));
        OutputFolder again = OutputFolder.of("convert", model).overwrite(true).open();
        assertFalse(Files.exists(again.dir().resolve("model.safetensors")), "a one-shot command starts over");
        Files.writeString(again.dir().resolve("model.safetensors"), "newer");
        again.commit();
        assertEquals(Map.of(OutputFolder.MARKER, Files.readString(model.resolve(OutputFolder.MARKER)), "model.safetensors", "newer"),
                snapshot(model));
        assertFalse(Files.exists(tmp.resolve(".user-model" + OutputFolder.REPLACED)));
    }

    @Test
    void aResumableCommandContinuesItsOwnFolder() throws IOException {
        Path out = tmp.resolve("run");
        OutputFolder f = OutputFolder.of("train", out).resumable(true).resume(false).open();
        assertEquals(out.toRealPath(), f.dir());
        assertFalse(f.continuing());
        Files.createDirectories(out.resolve("training/checkpoints"));
        OutputFolder again = OutputFolder.of("train", out).resumable(true).resume(true).open();
        assertTrue(again.continuing());
        assertEquals(out.toRealPath(), again.dir());
        again.commit();
        assertTrue(OutputFolder.of("train", out).resumable(true).open().continuing(), "a finished run is still its own folder");
        // --overwrite without --resume starts over beside it, keeping it until done.
        OutputFolder fresh = OutputFolder.of("train", out).resumable(true).resume(false).overwrite(true).open();
        assertFalse(fresh.continuing());
        assertEquals(tmp.toRealPath().resolve(".run" + OutputFolder.PARTIAL), fresh.dir());
        assertTrue(Files.isDirectory(out.resolve("training/checkpoints")));
    }

    @Test
    void replacingAForeignFolderIsResumedInTheSibling() throws IOException {
        Path model = userModel();
        OutputFolder f = OutputFolder.of("train", model).resumable(true).resume(false).overwrite(true).open();
        Files.writeString(f.dir().resolve("checkpoint"), "step 5");
        OutputFolder resumed = OutputFolder.of("train", model).resumable(true).resume(true).overwrite(true).open();
        assertTrue(resumed.continuing());
        assertEquals("step 5", Files.readString(resumed.dir().resolve("checkpoint")));
        assertTrue(refusal(OutputFolder.of("train", model).resumable(true).resume(true)).contains("pass --overwrite"),
                "without --overwrite the user's folder is still refused");
        resumed.commit();
        assertEquals("step 5", Files.readString(model.resolve("checkpoint")));
        assertFalse(Files.exists(model.resolve("config.json")));
    }

    @Test
    void aStrayFolderWhereTheSiblingGoesIsNotDeleted() throws IOException {
        Path stray = Files.createDirectories(tmp.resolve(".out" + OutputFolder.PARTIAL));
        Files.writeString(stray.resolve("notes.txt"), "mine");
        String m = refusal(OutputFolder.of("convert", tmp.resolve("out")));
        assertTrue(m.endsWith("is in the way of the temporary folder of `mha2mla convert` and was not written by it; move it away"), m);
        assertEquals("mine", Files.readString(stray.resolve("notes.txt")));
    }

    @Test
    void outputsWrittenBeforeTheMarkerAreRecognised() throws IOException {
        Path out = Files.createDirectories(tmp.resolve("eval-results/predictions"));
        OutputFolder f = OutputFolder.of("eval", out.getParent()).resumable(true)
                .earlierOutput(d -> Files.isDirectory(d.resolve("predictions"))).open();
        assertTrue(f.continuing());
    }
}
