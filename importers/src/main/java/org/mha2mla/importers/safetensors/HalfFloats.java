package org.mha2mla.importers.safetensors;

/**
 * Bit-exact conversions between float32 and the two 16-bit storage formats. Java 17 has no
 * Float.float16ToFloat (added in 20), so IEEE binary16 is decoded here, subnormals, infinities and NaN
 * payloads included.
 */
public final class HalfFloats {
    private HalfFloats() {
    }

    /** bfloat16 is the upper half of a float32: widening is exact. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * Round-to-nearest-even to bfloat16, the way torch's c10::BFloat16 does it (round_to_nearest_even in
     * c10/util/BFloat16.h): NaN becomes the quiet NaN 0x7FC0, everything else adds 0x7FFF plus the lowest
     * kept bit and truncates. Overflow rounds to infinity as in IEEE.
     */
    public static short floatToBf16(float f) {
        if (Float.isNaN(f)) return (short) 0x7FC0;
        int bits = Float.floatToRawIntBits(f);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** IEEE 754 binary16 → float32, exact for every one of the 65536 bit patterns. */
    public static float halfToFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        if (exp == 0x1F) {
            // Inf (mant 0) or NaN: keep the payload in the top mantissa bits, like numpy and torch do.
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        if (exp == 0) {
            if (mant == 0) return Float.intBitsToFloat(sign); // ±0
            // Subnormal: value = mant × 2^-24, exactly representable as a normal float32.
            float v = mant * 0x1p-24f;
            return sign == 0 ? v : -v;
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /**
     * float32 → IEEE binary16 with round-to-nearest-even (what numpy's astype(float16) and torch's .half() do),
     * overflow to ±inf, gradual underflow to subnormals, NaN kept quiet with the top payload bits.
     */
    public static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xFF;
        int mant = bits & 0x7FFFFF;
        if (exp == 0xFF) {
            if (mant == 0) return (short) (sign | 0x7C00);
            return (short) (sign | 0x7C00 | 0x200 | (mant >>> 13));
        }
        int e = exp - 127 + 15; // rebiased exponent
        if (e >= 0x1F) return (short) (sign | 0x7C00); // too large even before rounding
        if (e <= 0) {
            // Result is subnormal (or zero): shift the full significand (implicit 1 included) right.
            if (e < -10) return (short) sign; // below half of the smallest subnormal: rounds to ±0
            int sig = mant | 0x800000;
            int shift = 14 - e; // 13 for the mantissa width difference + (1 - e) for the denormalisation
            int result = sig >>> shift;
            int rem = sig & ((1 << shift) - 1);
            int halfway = 1 << (shift - 1);
            if (rem > halfway || (rem == halfway && (result & 1) == 1)) result++;
            return (short) (sign | result); // a carry into bit 10 correctly yields the smallest normal
        }
        int result = (e << 10) | (mant >>> 13);
        int rem = mant & 0x1FFF;
        if (rem > 0x1000 || (rem == 0x1000 && (result & 1) == 1)) result++; // carry may reach inf: correct
        return (short) (sign | result);
    }
}
