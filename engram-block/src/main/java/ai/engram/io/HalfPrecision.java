package ai.engram.io;

/**
 * IEEE half and bfloat16 conversions in Java: Java 17 has no {@code Float.float16ToFloat}, and DJL's
 * PyTorch engine cannot touch bfloat16 at all.
 */
public final class HalfPrecision {

    private HalfPrecision() {}

    /**
     * @param bits bfloat16 bits
     * @return the exact float value
     */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * @param bits IEEE binary16 bits
     * @return the exact float value
     */
    public static float halfToFloat(short bits) {
        int h = bits & 0xFFFF;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        if (exponent == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            if (mantissa == 0) {
                return Float.intBitsToFloat(sign);
            }
            float value = mantissa * 0x1p-24f; // subnormal: exact in float
            return sign == 0 ? value : -value;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    /**
     * Rounds to nearest-even IEEE binary16, saturating to infinity like a hardware conversion.
     *
     * @param value a float
     * @return binary16 bits
     */
    public static short floatToHalf(float value) {
        int f = Float.floatToRawIntBits(value);
        int sign = (f >>> 16) & 0x8000;
        int abs = f & 0x7FFFFFFF;
        if (abs >= 0x7F800000) { // inf or NaN
            return (short) (sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0));
        }
        if (abs >= 0x477FF000) { // rounds to >= 65520: overflow
            return (short) (sign | 0x7C00);
        }
        if (abs < 0x38800000) { // below the smallest normal half: subnormal or zero
            int shift = 126 - (abs >>> 23); // half = mantissa * 2^(e - 126) in units of 2^-24
            if (shift > 24) {
                return (short) sign;
            }
            int mantissa = (abs & 0x7FFFFF) | 0x800000;
            int half = mantissa >>> shift;
            int remainder = mantissa & ((1 << shift) - 1);
            int halfway = 1 << (shift - 1);
            if (remainder > halfway || (remainder == halfway && (half & 1) == 1)) {
                half++;
            }
            return (short) (sign | half);
        }
        int rounded = abs + 0xFFF + ((abs >>> 13) & 1);
        return (short) (sign | ((rounded - 0x38000000) >>> 13));
    }

    /**
     * @param bits an FP8 E4M3 value (sign, 4 exponent bits with bias 7, 3 mantissa bits; no infinities, S.1111.111
     *     is NaN), as DeepSeek-V3 stores its weights
     * @return the value
     */
    public static float e4m3ToFloat(byte bits) {
        int b = bits & 0xff;
        int exponent = (b >>> 3) & 0xf;
        int mantissa = b & 0x7;
        float sign = (b & 0x80) != 0 ? -1f : 1f;
        if (exponent == 0xf && mantissa == 0x7) {
            return Float.NaN;
        }
        if (exponent == 0) {
            return sign * Math.scalb(mantissa / 8f, -6);
        }
        return sign * Math.scalb(1 + mantissa / 8f, exponent - 7);
    }
}
