package org.mha2mla.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.Mha2Mla;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.importers.OutputFolder;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.mla.Mha2MlaConverter;

/** The Java API ({@link Mha2Mla}) against the command line and the transformers goldens. */
class Mha2MlaTest {

    /**
     * {@code Mha2Mla.convert} with the options {@code mha2mla convert} parses writes the same folder, file for file and
     * byte for byte, as the command.
     */
    @Test
    void convertWritesWhatTheCommandWrites(@TempDir Path tmp) throws Exception {
        Path calib = ConvertCommandTest.calibration(tmp);
        Path cli = tmp.resolve("cli");
        PrintStream oldOut = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, Main.run("convert", "--model", ConvertCommandTest.LLAVA.toString(), "--out", cli.toString(), "--d-kv", "4",
                    "--rope-dim", "4", "--calib", calib.toString(), "--calib-samples", "3", "--dtype", "f32", "--no-progress"),
                    captured.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
        }

        Path api = tmp.resolve("api");
        Mha2MlaConverter.Options options = Mha2MlaConverter.Options.builder(4).ropeDim(4).progress(false).build();
        Mha2Mla.Conversion c = Mha2Mla.convert(Mha2Mla.ConvertOptions.builder(ConvertCommandTest.LLAVA, api, options)
                .calibration(calib).samples(3).dtype(DType.F32).log(new PrintStream(new ByteArrayOutputStream())).build());
        assertEquals(api, c.dir());
        assertEquals(DType.F32, c.dtype());
        assertEquals(Mha2MlaConfig.Step.ALL, c.converted().report().conversion().step());
        assertEquals(3, c.converted().report().samples());

        List<String> files = files(cli);
        assertEquals(files, files(api));
        assertTrue(files.contains("model.safetensors") && files.contains("conversion_report.json") && files.contains("config.json"), files.toString());
        for (String f : files) {
            if (f.equals(OutputFolder.MARKER)) continue;
            assertEquals(-1L, Files.mismatch(cli.resolve(f), api.resolve(f)), f + " differs between the command and the API");
        }
    }

    /** {@code Model.generate} on the raw golden prompt reproduces transformers' greedy ids (fixture case c0: image + text). */
    @Test
    void generateReproducesTheTransformersGreedyIds() {
        Path llava = ConvertCommandTest.LLAVA;
        long[] golden;
        try (SafeTensorsFile g = SafeTensorsFile.open(llava.resolve("golden.safetensors"))) {
            golden = g.readLongs("c0.generated_ids");
        }
        try (Mha2Mla.Model m = Mha2Mla.load(llava)) {
            assertEquals("llava", m.config().modelType());
            Mha2Mla.Generation g = m.generate(Mha2Mla.GenerateOptions.builder("USER: <image>\nWhat is the color of the square? ASSISTANT:")
                    .image(llava.resolve("image0.png")).maxNewTokens(golden.length).raw(true).build());
            assertArrayEquals(golden, g.ids());
            assertEquals(47, g.promptTokens(), "case.json's seq_len");
        }
    }

    private static List<String> files(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
