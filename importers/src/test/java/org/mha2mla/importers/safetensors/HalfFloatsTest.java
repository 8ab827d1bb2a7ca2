package org.mha2mla.importers.safetensors;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conversions against numpy (f16 both ways) and an exact rational nearest-value search (bf16), stored in
 * src/test/resources/safetensors/half_reference.safetensors by make_reference.py.
 */
class HalfFloatsTest {

    @Test
    void all65536HalfPatternsDecodeLikeNumpy() {
        try (SafeTensorsFile f = SafeTensorsFile.open(SafeTensorsFileTest.resource("safetensors/half_reference.safetensors"))) {
            int[] expected = f.readInts("f16_all_as_f32_bits");
            INDArray decoded = f.readFloat32("f16_all"); // the reader's F16 path
            float[] v = decoded.toFloatVector();
            assertEquals(65536, v.length);
            int subnormals = 0, nans = 0;
            for (int h = 0; h < 65536; h++) {
                assertEquals(expected[h], Float.floatToRawIntBits(HalfFloats.halfToFloat((short) h)), "pattern " + h);
                assertEquals(expected[h], Float.floatToRawIntBits(v[h]), "reader, pattern " + h);
                if ((h & 0x7C00) == 0 && (h & 0x3FF) != 0) subnormals++;
                if (Float.isNaN(v[h])) nans++;
            }
            assertEquals(2 * 1023, subnormals);
            assertEquals(2 * 1023, nans);
        }
    }

    @Test
    void floatToHalfRoundsLikeNumpyAndFloatToBf16LikeExactNearestEven() {
        try (SafeTensorsFile f = SafeTensorsFile.open(SafeTensorsFileTest.resource("safetensors/half_reference.safetensors"))) {
            int[] in = f.readInts("f32_samples_bits");
            int[] f16 = f.readInts("f32_samples_f16_bits");
            int[] bf16 = f.readInts("f32_samples_bf16_bits");
            assertTrue(in.length > 10000);
            for (int i = 0; i < in.length; i++) {
                float x = Float.intBitsToFloat(in[i]);
                assertEquals(f16[i], HalfFloats.floatToHalf(x) & 0xFFFF, "f16 of " + x + " (bits " + Integer.toHexString(in[i]) + ")");
                assertEquals(bf16[i], HalfFloats.floatToBf16(x) & 0xFFFF, "bf16 of " + x + " (bits " + Integer.toHexString(in[i]) + ")");
                // bf16 widening is exact: a bf16 value converts back to itself
                short b = (short) bf16[i];
                assertEquals(b, HalfFloats.floatToBf16(HalfFloats.bf16ToFloat(b)));
            }
        }
    }

    @Test
    void nanStaysNan() {
        assertTrue(Float.isNaN(HalfFloats.halfToFloat(HalfFloats.floatToHalf(Float.NaN))));
        assertTrue(Float.isNaN(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(Float.intBitsToFloat(0x7F800001)))));
        assertEquals(0x7FC0, HalfFloats.floatToBf16(Float.NaN) & 0xFFFF); // torch's canonical bf16 NaN
    }
}
