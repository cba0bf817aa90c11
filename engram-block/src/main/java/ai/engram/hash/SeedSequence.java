package ai.engram.hash;

/**
 * numpy's {@code SeedSequence} (NEP 19) for an integer seed without spawn key: mixes the seed's 32-bit
 * words into a four-word entropy pool and expands the pool into as many state words as a bit generator
 * needs.
 *
 * <p>Reimplemented bit for bit because Engram configs written by DeepSeek's reference identify their hash
 * multipliers only by {@code seed}: the multipliers must be regenerated exactly as
 * {@code numpy.random.default_rng(seed)} does. All arithmetic is unsigned 32-bit, as in numpy.
 */
public final class SeedSequence {

    private static final int POOL_SIZE = 4;
    private static final int INIT_A = 0x43b0d7e5;
    private static final int MULT_A = 0x931e8875;
    private static final int INIT_B = 0x8b51f9dd;
    private static final int MULT_B = 0x58f38ded;
    private static final int MIX_MULT_L = 0xca01f9dd;
    private static final int MIX_MULT_R = 0x4973f715;
    private static final int XSHIFT = 16;

    private final int[] pool = new int[POOL_SIZE];

    /**
     * Mixes a non-negative seed into the entropy pool.
     *
     * @param seed the seed, as given to {@code numpy.random.default_rng(seed)}; must be ≥ 0
     */
    public SeedSequence(long seed) {
        if (seed < 0) {
            throw new IllegalArgumentException("seed must be non-negative (numpy rejects negative seeds): " + seed);
        }
        mixEntropy(toUint32Words(seed));
    }

    /** numpy splits an integer seed into little-endian 32-bit words; zero is the single word 0. */
    private static int[] toUint32Words(long seed) {
        if (seed == 0) {
            return new int[] {0};
        }
        int count = (seed >>> 32) != 0 ? 2 : 1;
        int[] words = new int[count];
        for (int i = 0; i < count; i++) {
            words[i] = (int) (seed >>> (32 * i));
        }
        return words;
    }

    private void mixEntropy(int[] entropy) {
        int[] hashConst = {INIT_A};
        for (int i = 0; i < POOL_SIZE; i++) {
            pool[i] = hashMix(i < entropy.length ? entropy[i] : 0, hashConst);
        }
        for (int src = 0; src < POOL_SIZE; src++) {
            for (int dst = 0; dst < POOL_SIZE; dst++) {
                if (src != dst) {
                    pool[dst] = mix(pool[dst], hashMix(pool[src], hashConst));
                }
            }
        }
        for (int src = POOL_SIZE; src < entropy.length; src++) {
            for (int dst = 0; dst < POOL_SIZE; dst++) {
                pool[dst] = mix(pool[dst], hashMix(entropy[src], hashConst));
            }
        }
    }

    private static int hashMix(int value, int[] hashConst) {
        value ^= hashConst[0];
        hashConst[0] *= MULT_A;
        value *= hashConst[0];
        return value ^ (value >>> XSHIFT);
    }

    private static int mix(int x, int y) {
        int result = MIX_MULT_L * x - MIX_MULT_R * y;
        return result ^ (result >>> XSHIFT);
    }

    /**
     * Expands the pool into {@code count} 64-bit state words ({@code generate_state(count, uint64)}).
     *
     * @param count number of 64-bit words
     * @return the words; each is two consecutive 32-bit outputs, little-endian
     */
    public long[] generateState64(int count) {
        int[] words = new int[count * 2];
        int hashConst = INIT_B;
        for (int i = 0; i < words.length; i++) {
            int value = pool[i % POOL_SIZE];
            value ^= hashConst;
            hashConst *= MULT_B;
            value *= hashConst;
            value ^= value >>> XSHIFT;
            words[i] = value;
        }
        long[] state = new long[count];
        for (int i = 0; i < count; i++) {
            state[i] = Integer.toUnsignedLong(words[2 * i]) | ((long) words[2 * i + 1] << 32);
        }
        return state;
    }
}
