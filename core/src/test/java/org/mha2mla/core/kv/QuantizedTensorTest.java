package org.mha2mla.core.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class QuantizedTensorTest {

    @Test
    void unpacksLittleEndCodesAndCountsBytes() {
        // int4: byte 0x21 holds element 0 = 1 (low nibble), element 1 = 2; byte 0xF3: 3, 15.
        QuantizedTensor q4 = new QuantizedTensor(new long[] {1, 4}, 4, 4, new byte[] {0x21, (byte) 0xF3},
                new short[] {Fp16.fromFloat(0.5f)}, new short[] {Fp16.fromFloat(-1f)});
        assertEquals(1, q4.code(0));
        assertEquals(2, q4.code(1));
        assertEquals(3, q4.code(2));
        assertEquals(15, q4.code(3));
        assertEquals(2 + 2 + 2, q4.byteSize());
        assertEquals(0.5f, q4.scale(0));
        assertEquals(-1f, q4.zeroPoint(0));
        // int2: 0b11_10_01_00 = 0xE4 holds 0, 1, 2, 3
        QuantizedTensor q2 = new QuantizedTensor(new long[] {4}, 2, 4, new byte[] {(byte) 0xE4},
                new short[] {0}, new short[] {0});
        for (int i = 0; i < 4; i++) {
            assertEquals(i, q2.code(i));
        }
        assertEquals(4, q2.length());
        assertEquals(1, q2.groups());
    }
}
