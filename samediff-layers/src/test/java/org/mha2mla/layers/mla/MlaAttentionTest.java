package org.mha2mla.layers.mla;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.nd4j.autodiff.samediff.SameDiff;

/** MLA's checks of its RoPE selection (its decode step against the full pass: {@code decode.MlaStepTest}). */
class MlaAttentionTest {

    @Test
    void cacheTensorsAndSelectionChecks() {
        TextConfig t = original().config().textConfig();
        SameDiff sd = SameDiff.create();
        RopeSelection wrongHeads = RopeSelection.all(3, 4, t.headDim());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new MlaAttention(sd, t, "x.self_attn", wrongHeads, 0, 2, true));
        assertTrue(e.getMessage().contains("n_kv = 2"), e.getMessage());
    }

    static VisionLanguageModel original() {
        return VlmLoader.load(Fixtures.dir("llava_next"));
    }
}
