package ai.engram.io;

import ai.engram.hash.Pcg64NumpyBridge;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.List;
import java.util.SplittableRandom;

/** Half and bfloat16 conversions: exhaustive round trips and numpy's own float16 rounding. */
public class HalfPrecisionTest {

    @Test
    public void everyHalfRoundTrips() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float value = HalfPrecision.halfToFloat((short) bits);
            short back = HalfPrecision.floatToHalf(value);
            if (Float.isNaN(value)) {
                Assert.assertTrue(Float.isNaN(HalfPrecision.halfToFloat(back)), "NaN 0x" + Integer.toHexString(bits));
            } else {
                Assert.assertEquals(back & 0xFFFF, bits, "half 0x" + Integer.toHexString(bits) + " = " + value);
            }
        }
    }

    @Test
    public void bf16IsTheHighHalfOfAFloat() {
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < 10_000; i++) {
            int bits = random.nextInt() & 0xFFFF0000;
            Assert.assertEquals(Float.floatToRawIntBits(HalfPrecision.bf16ToFloat((short) (bits >>> 16))), bits);
        }
    }

    @Test
    public void roundsLikeNumpy() throws Exception {
        SplittableRandom random = new SplittableRandom(5);
        float[] values = new float[2000];
        for (int i = 0; i < values.length; i++) {
            // Spread over normal, subnormal, overflow and tie-prone ranges of binary16.
            double magnitude = Math.pow(2, -28 + random.nextDouble() * 46);
            values[i] = (float) (random.nextBoolean() ? magnitude : -magnitude);
        }
        values[0] = 65520f;
        values[1] = 65519.99f;
        values[2] = 0x1p-25f;
        values[3] = 0x1.8p-25f;
        values[4] = 1.0009766f;
        StringBuilder script = new StringBuilder("import numpy as np\nv = np.array([");
        for (float v : values) {
            script.append(Integer.toUnsignedString(Float.floatToRawIntBits(v))).append(',');
        }
        script.append("], dtype=np.uint32).view(np.float32)\n")
                .append("print(' '.join(str(int(b)) for b in v.astype(np.float16).view(np.uint16)))\n");
        List<String> lines = Pcg64NumpyBridge.runPython(script.toString());
        String[] expected = lines.get(0).trim().split(" ");
        for (int i = 0; i < values.length; i++) {
            Assert.assertEquals(HalfPrecision.floatToHalf(values[i]) & 0xFFFF, Integer.parseInt(expected[i]),
                    "float " + values[i]);
        }
    }
}
