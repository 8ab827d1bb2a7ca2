package org.mha2mla.core.kv;

/**
 * IEEE 754 half precision (binary16) conversions for the scales and zero points of quantized caches
 * (Java 17 has no Float.floatToFloat16). Nearest-even rounding, plus directed rounding used to keep the
 * quantization error bound after the fp16 rounding of group parameters.
 */
public final class Fp16 {

    /** Largest finite half value. */
    public static final float MAX = 65504f;

    private Fp16() {
    }

    /** Half bits of f, rounded to nearest (ties to even); overflow gives ±Inf. */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int val = bits & 0x7fffffff;
        if (val >= 0x7f800000) {
            return (short) (sign | 0x7c00 | (val > 0x7f800000 ? 0x200 : 0)); // Inf, or a quiet NaN
        }
        if (val >= 0x477ff000) { // ≥ 65520 = halfway between 65504 and 2^16: rounds to Inf
            return (short) (sign | 0x7c00);
        }
        if (val < 0x38800000) { // below 2^-14: subnormal half, in units of 2^-24
            float abs = Float.intBitsToFloat(val);
            return (short) (sign | (int) Math.rint(abs * 0x1p24));
        }
        int h = ((((val >>> 23) - 127 + 15)) << 10) | ((val & 0x7fffff) >>> 13);
        int rem = val & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1)) {
            h++; // a mantissa carry correctly bumps the exponent
        }
        return (short) (sign | h);
    }

    /** The float value of half bits h (exact). */
    public static float toFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0) {
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        if (exp == 31) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /** Half bits of the largest half ≤ x (x finite, |x| ≤ 65504). */
    public static short roundDown(double x) {
        checkRange(x);
        short h = fromFloat((float) x);
        while (toFloat(h) > x) {
            h = previous(h);
        }
        return h;
    }

    /** Half bits of the smallest half ≥ x (x finite, |x| ≤ 65504). */
    public static short roundUp(double x) {
        checkRange(x);
        short h = fromFloat((float) x);
        while (toFloat(h) < x) {
            h = next(h);
        }
        return h;
    }

    private static short next(short h) {
        int b = h & 0xffff;
        if (b == 0x8000) {
            return 0x0001; // −0 → smallest positive subnormal
        }
        return (short) ((b & 0x8000) == 0 ? b + 1 : b - 1);
    }

    private static short previous(short h) {
        int b = h & 0xffff;
        if (b == 0x0000) {
            return (short) 0x8001; // +0 → smallest negative subnormal
        }
        return (short) ((b & 0x8000) == 0 ? b - 1 : b + 1);
    }

    private static void checkRange(double x) {
        if (!(Math.abs(x) <= MAX)) {
            throw new IllegalArgumentException("value " + x + " is outside the float16 range ±" + MAX);
        }
    }
}
