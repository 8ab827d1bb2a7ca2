package org.mha2mla.layers.llava;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

/** Hand-computed cases of transformers' anyres geometry (sizes are [height, width]). */
class AnyResTest {

    static final List<int[]> FIXTURE_PINPOINTS = List.of(new int[]{56, 112}, new int[]{112, 56}, new int[]{112, 112},
            new int[]{168, 56}, new int[]{56, 168});

    @Test
    void fixtureImagePicks112x112() {
        // 83×150: 56×112 keeps 56·101 = 5656 px, 112×112 keeps 61·112 = 6832 px → 112×112, 2×2 tiles + base
        assertArrayEquals(new int[]{112, 112}, AnyRes.selectBestResolution(new int[]{83, 150}, FIXTURE_PINPOINTS));
        assertArrayEquals(new int[]{2, 2}, AnyRes.gridShape(new int[]{83, 150}, FIXTURE_PINPOINTS, 56));
        assertEquals(5, AnyRes.numPatches(new int[]{83, 150}, FIXTURE_PINPOINTS, 56));
    }

    @Test
    void tiesOnEffectiveResolutionGoToLeastWaste() {
        // a tiny 10×10 image is kept whole by every pinpoint: the smallest pinpoint wastes least
        assertArrayEquals(new int[]{56, 112}, AnyRes.selectBestResolution(new int[]{10, 10}, FIXTURE_PINPOINTS));
        // llava-v1.6 pinpoints, a 336×1008 strip fits 336×1008 exactly
        List<int[]> v16 = List.of(new int[]{336, 672}, new int[]{672, 336}, new int[]{672, 672}, new int[]{1008, 336}, new int[]{336, 1008});
        assertArrayEquals(new int[]{336, 1008}, AnyRes.selectBestResolution(new int[]{336, 1008}, v16));
    }

    @Test
    void unpadCutsLetterboxRowsOrColumns() {
        // wide image on an 8×8 grid: new_height = int(round(83·8/150, 7)) = 4, padding (8 − 4)//2 = 2 → rows 2..6
        assertArrayEquals(new int[]{2, 6, 0, 8}, AnyRes.unpadRanges(new int[]{83, 150}, 8, 8));
        // tall image 150×83: columns cut instead
        assertArrayEquals(new int[]{0, 8, 2, 6}, AnyRes.unpadRanges(new int[]{150, 83}, 8, 8));
        // same aspect: nothing cut
        assertArrayEquals(new int[]{0, 24, 0, 48}, AnyRes.unpadRanges(new int[]{100, 200}, 24, 48));
    }

    @Test
    void roundingIsPythonsRoundTo7ThenInt() {
        assertEquals(4, AnyRes.roundTo7Truncated(4.42666666));
        assertEquals(5, AnyRes.roundTo7Truncated(4.99999999)); // rounds up to 5.0000000 before int()
        assertEquals(4, AnyRes.roundTo7Truncated(4.9999999));
    }
}
