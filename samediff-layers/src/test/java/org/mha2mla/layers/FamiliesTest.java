package org.mha2mla.layers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.family.FamilySpecs;
import org.mha2mla.layers.llava.LlavaModel;
import org.mha2mla.layers.llava.LlavaNextModel;
import org.mha2mla.layers.qwen25vl.Qwen25VlModel;

class FamiliesTest {

    /** Every family the importers register has a model builder, and no other has one. */
    @Test
    void aBuilderForEveryRegisteredFamily() {
        assertEquals(List.copyOf(FamilySpecs.modelTypes()), List.copyOf(Families.modelTypes()));
    }

    /** Each fixture folder opens as its family's model class, over its own config. */
    @Test
    void eachFixtureOpensAsItsFamilysModel() {
        Map<String, Class<?>> classes = Map.of("llava", LlavaModel.class, "llava_next", LlavaNextModel.class,
                "qwen2_5_vl", Qwen25VlModel.class);
        for (Map.Entry<String, Class<?>> e : classes.entrySet()) {
            String name = e.getKey();
            try (VisionLanguageModel m = VlmLoader.load(Fixtures.dir(name))) {
                assertSame(e.getValue(), m.getClass(), name);
                assertEquals(name, m.config().modelType());
                assertEquals(HfConfigParser.read(Fixtures.dir(name)).textConfig().numHiddenLayers(), m.config().textConfig().numHiddenLayers());
            }
        }
    }
}
