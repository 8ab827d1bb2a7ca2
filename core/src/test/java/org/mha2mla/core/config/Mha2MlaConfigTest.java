package org.mha2mla.core.config;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.SvdMethod;

class Mha2MlaConfigTest {

    static final int[][][] KEPT = {{{0, 3}, {1, 2}}, {{2, 3}, {0, 1}}};

    static TextConfig text(int layers, int kvHeads, int headDim) {
        return new TextConfig("llama", 100, 32, 64, layers, 4, kvHeads, headDim, "silu", 1e-5, 10000, 128, false, false, 1,
                List.of(2), null, null);
    }

    @Test
    void stepsSelectionAndDecoupling() {
        Mha2MlaConfig rope = Mha2MlaConfig.partialRope(RopeStrategy.HIGH, new RopeSelection(8, KEPT));
        assertFalse(rope.isMla());
        assertFalse(rope.decoupled());
        assertEquals(4, rope.ropeDim());
        Mha2MlaConfig md = rope.withMla(Mha2MlaConfig.Step.SVD, 6, SvdMethod.MD);
        assertTrue(md.isMla() && md.decoupled());
        assertFalse(rope.withMla(Mha2MlaConfig.Step.ALL, 6, SvdMethod.SVD_LLM).decoupled());
        assertArrayEquals(new int[] {1, 2}, md.selection(8).keptPairs(0, 1));
        md.requireMatches(text(2, 2, 8));
        int[][][] copy = md.keptPairs();
        copy[0][0][0] = 99;                                   // callers cannot change the record
        assertEquals(0, md.keptPairs()[0][0][0]);
        assertEquals(Mha2MlaConfig.Step.ALL, Mha2MlaConfig.Step.parse("all"));
    }

    @Test
    void inconsistentSectionsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new Mha2MlaConfig(Mha2MlaConfig.Step.ALL, RopeStrategy.MKL, 4, 0, SvdMethod.MD, KEPT));
        assertThrows(IllegalArgumentException.class, () -> new Mha2MlaConfig(Mha2MlaConfig.Step.ROPE, RopeStrategy.MKL, 4, 8, null, KEPT));
        assertThrows(IllegalArgumentException.class, () -> new Mha2MlaConfig(Mha2MlaConfig.Step.ROPE, RopeStrategy.MKL, 2, 0, null, KEPT));
        Mha2MlaConfig md = new Mha2MlaConfig(Mha2MlaConfig.Step.ALL, RopeStrategy.MKL, 4, 13, SvdMethod.MD, KEPT);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> md.requireMatches(text(3, 2, 8)));
        assertTrue(e.getMessage().contains("num_hidden_layers = 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> md.requireMatches(text(2, 2, 8)));
        assertTrue(e.getMessage().contains("d_kv = 13 exceeds 2·d_h − d_r = 12"), e.getMessage());
    }
}
