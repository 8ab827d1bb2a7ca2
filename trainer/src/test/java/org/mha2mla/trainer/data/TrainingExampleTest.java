package org.mha2mla.trainer.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.mha2mla.layers.MultimodalInput;

class TrainingExampleTest {

    private static final long I = -100;
    private static final int IMG = 3;

    //                    bos U  img img img q  A  a1  a2  eos
    static final long[] IDS = {1, 9, IMG, IMG, IMG, 8, 7, 20, 21, 2};
    static final long[] LABELS = {I, I, I, I, I, I, I, 20, 21, 2};

    private static TrainingExample example() {
        return new TrainingExample("x", MultimodalInput.text(IDS), LABELS);
    }

    @Test
    void targetsAreShiftedLabels() {
        assertArrayEquals(new long[]{I, I, I, I, I, I, 20, 21, 2, I}, example().targets());
        assertEquals(3, example().supervisedTokens());
    }

    @Test
    void fitsUnchanged() {
        TrainingExample.Capped c = example().capped(10, IMG);
        assertTrue(!c.truncated() && c.dropped() == null);
        assertSame(IDS, c.example().input().inputIds());
    }

    @Test
    void truncatesTheReplyButKeepsTheImage() {
        TrainingExample.Capped c = example().capped(8, IMG);
        assertTrue(c.truncated());
        assertArrayEquals(new long[]{1, 9, IMG, IMG, IMG, 8, 7, 20}, c.example().input().inputIds());
        assertEquals(1, c.example().supervisedTokens());     // position 6 predicts 20
    }

    @Test
    void dropsWhenImageTokensWouldBeCutOrNoReplyIsLeft() {
        TrainingExample.Capped cut = example().capped(4, IMG);
        assertEquals(TrainingExample.Drop.IMAGE_CUT, cut.dropped());
        assertNull(cut.example());
        assertEquals(TrainingExample.Drop.NO_SUPERVISED_TOKEN, example().capped(7, IMG).dropped());
    }

    @Test
    void lengthsMustAgree() {
        assertThrows(IllegalArgumentException.class, () -> new TrainingExample("y", MultimodalInput.text(IDS), new long[]{1}));
    }
}
