package org.mha2mla.importers.family;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.HfFixtures;
import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.KeyLayout;

class FamilySpecsTest {

    @Test
    void everyBundledFamilyIsRegisteredOnce() {
        assertEquals(List.of("llava", "llava_next", "qwen2_5_vl"), List.copyOf(FamilySpecs.modelTypes()));
        Set<FamilySpec> specs = new HashSet<>();
        for (String type : FamilySpecs.modelTypes()) {
            FamilySpec spec = FamilySpecs.of(type);
            assertEquals(type, spec.modelType(), "a spec is registered under its own model_type");
            specs.add(spec);
        }
        assertEquals(FamilySpecs.modelTypes().size(), specs.size(), "one spec per model_type");
    }

    @Test
    void eachFixtureGoesThroughItsFamilysParserProcessorAndKeyLayout() {
        for (String name : HfFixtures.NAMES) {
            Path dir = HfFixtures.dir(name);
            VlmConfig config = HfConfigParser.read(dir);
            FamilySpec spec = FamilySpecs.of(config);
            assertSame(FamilySpecs.of(name), spec, name);
            assertEquals(name, config.modelType());
            try (VlmProcessor p = VlmProcessor.load(dir)) {
                assertEquals(config.imageTokenId(), p.imageTokenId(), name + ": the family's processor reads the folder's image token");
            }
            // The fixtures hold hub-layout keys; the family's rules take each to the new layout and back, and its decoder
            // tensors sit under the family's decoder prefix.
            try (Checkpoint c = Checkpoint.open(dir)) {
                assertEquals(KeyLayout.Layout.HUB, KeyLayout.detect(c.names(), name, dir.toString()), name);
                for (String k : c.names()) {
                    String canonical = KeyLayout.toCanonical(k, name);
                    assertEquals(canonical, KeyLayout.toCanonical(KeyLayout.toNew(canonical, name), name), name + ": " + k);
                }
                long decoder = c.names().stream().map(k -> KeyLayout.toCanonical(k, name))
                        .filter(k -> k.startsWith(spec.decoderPrefix() + "layers.")).count();
                assertEquals(0, decoder % config.textConfig().numHiddenLayers(), name);
                assertFalse(decoder == 0, name + ": decoder layers under " + spec.decoderPrefix());
            }
        }
    }

    @Test
    void unknownModelTypeIsOneLineNamingConfigJsonTheValueAndTheKnownOnes(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gpt2\", \"n_layer\": 12}");
        ConfigException e = assertThrows(ConfigException.class, () -> HfConfigParser.read(dir));
        assertEquals(dir.resolve("config.json") + ": field 'model_type' is 'gpt2'; supported: llava, llava_next, qwen2_5_vl", e.getMessage());

        IllegalArgumentException direct = assertThrows(IllegalArgumentException.class, () -> FamilySpecs.of("gpt2"));
        assertEquals("model_type 'gpt2' is not supported (known: llava, llava_next, qwen2_5_vl)", direct.getMessage());
    }
}
