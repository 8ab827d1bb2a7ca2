package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.family.FamilySpecs;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.importers.config.HfConfigParser;

/**
 * The folder side of the transformers export (what transformers itself makes of it is checked by
 * tools/hf_check_export.py on the GPU machine: README "Export to transformers").
 */
class TransformersExportTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A copy of a fixture's config.json and tokenizer files with an mha2mla section (the weights are not needed). */
    private static Path converted(Path tmp, String fixture, Mha2MlaConfig c) throws Exception {
        Path dir = tmp.resolve(fixture);
        Files.createDirectories(dir);
        String json = Files.readString(TestFixtures.dir(fixture).resolve("config.json"));
        Files.writeString(dir.resolve("config.json"), c == null ? json : HfConfigParser.withConversion(json, c, fixture));
        return dir;
    }

    @Test
    void writesTheModuleAndPointsAutoMapAtTheFamilysClass(@TempDir Path tmp) throws Exception {
        String[][] cases = {{"llava", "4"}, {"qwen2_5_vl", "2"}};   // the fixtures this module's tests carry
        for (String[] f : cases) {
            int kvHeads = Integer.parseInt(f[1]);
            Mha2MlaConfig rope = Mha2MlaConfig.partialRope(RopeStrategy.HIGH, RopeSelection.all(3, kvHeads, 16));
            Path dir = converted(tmp, f[0], rope.withMla(Mha2MlaConfig.Step.ALL, 2, SvdMethod.MD));
            JsonNode before = JSON.readTree(dir.resolve("config.json").toFile());
            TransformersExport.write(dir);
            JsonNode after = JSON.readTree(dir.resolve("config.json").toFile());
            assertEquals("modeling_mha2mla." + FamilySpecs.of(f[0]).transformersExportClass(), after.path("auto_map").path("AutoModelForImageTextToText").asText());
            for (Iterator<String> it = before.fieldNames(); it.hasNext(); ) {
                String field = it.next();
                assertEquals(before.get(field), after.get(field), f[0] + ": field " + field + " changed");
            }
            assertEquals(HfConfigParser.readConversion(dir), rope.withMla(Mha2MlaConfig.Step.ALL, 2, SvdMethod.MD));
            try (InputStream in = TransformersExport.class.getResourceAsStream("transformers/modeling_mha2mla.py")) {
                byte[] module = Files.readAllBytes(dir.resolve(TransformersExport.MODULE_FILE));
                assertArrayEquals(in.readAllBytes(), module);
                String text = new String(module, java.nio.charset.StandardCharsets.UTF_8);
                assertTrue(text.contains("class " + FamilySpecs.of(f[0]).transformersExportClass() + "("), f[0]);
            }
            TransformersExport.write(dir);   // again: the same result, auto_map still one entry
            assertEquals(1, JSON.readTree(dir.resolve("config.json").toFile()).get("auto_map").size());
        }
    }

    @Test
    void anUnconvertedFolderIsRefused(@TempDir Path tmp) throws Exception {
        Path dir = converted(tmp, "llava", null);
        assertFalse(TransformersExport.isConverted(dir));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TransformersExport.write(dir));
        assertTrue(e.getMessage().contains("no \"mha2mla\" section"), e.getMessage());
        assertFalse(Files.exists(dir.resolve(TransformersExport.MODULE_FILE)));
    }
}
