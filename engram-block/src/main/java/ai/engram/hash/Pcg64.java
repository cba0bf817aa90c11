package ai.engram.hash;

/**
 * numpy's default bit generator {@code PCG64} (128-bit LCG state, XSL-RR output), seeded through
 * {@link SeedSequence}, plus the bounded-integer sampler of {@code Generator.integers} for int64.
 *
 * <p>Only what {@code default_rng(seed).integers(low, high, size, dtype=int64)} needs is implemented,
 * and it is bit-exact with numpy ≥ 1.17.
 */
public final class Pcg64 {

    private static final long MULT_HI = 0x2360ED051FC65DA4L;
    private static final long MULT_LO = 0x4385DF649FCCF645L;

    private long stateHi;
    private long stateLo;
    private final long incHi;
    private final long incLo;
    private boolean hasBufferedUint32;
    private int bufferedUint32;

    /**
     * Equivalent to {@code numpy.random.PCG64(seed)}.
     *
     * @param seed non-negative seed
     */
    public Pcg64(long seed) {
        long[] words = new SeedSequence(seed).generateState64(4);
        long initStateHi = words[0];
        long initStateLo = words[1];
        // inc = (initseq << 1) | 1, in 128 bits
        incHi = (words[2] << 1) | (words[3] >>> 63);
        incLo = (words[3] << 1) | 1L;
        stateHi = 0;
        stateLo = 0;
        step();
        long lo = stateLo + initStateLo;
        long carry = Long.compareUnsigned(lo, stateLo) < 0 ? 1 : 0;
        stateHi = stateHi + initStateHi + carry;
        stateLo = lo;
        step();
    }

    /** state = state * MULT + inc (mod 2^128). */
    private void step() {
        long lo = stateLo * MULT_LO;
        long hi = unsignedMultiplyHigh(stateLo, MULT_LO) + stateLo * MULT_HI + stateHi * MULT_LO;
        long newLo = lo + incLo;
        long carry = Long.compareUnsigned(newLo, lo) < 0 ? 1 : 0;
        stateHi = hi + incHi + carry;
        stateLo = newLo;
    }

    /**
     * The next 64 random bits.
     *
     * @return a uniformly distributed long
     */
    public long nextLong() {
        step();
        int rot = (int) (stateHi >>> 58);
        return Long.rotateRight(stateHi ^ stateLo, rot);
    }

    /** numpy serves 32-bit draws from halves of one 64-bit draw, low half first. */
    private int nextUint32() {
        if (hasBufferedUint32) {
            hasBufferedUint32 = false;
            return bufferedUint32;
        }
        long next = nextLong();
        hasBufferedUint32 = true;
        bufferedUint32 = (int) (next >>> 32);
        return (int) next;
    }

    /**
     * {@code Generator.integers(low, high, size=count, dtype=int64)}: uniform values in {@code [low, high)}
     * drawn with Lemire's rejection method, switching to 32-bit draws when the range fits, as numpy does.
     *
     * @param low inclusive lower bound
     * @param high exclusive upper bound, greater than {@code low}
     * @param count how many values
     * @return the values
     */
    public long[] integers(long low, long high, int count) {
        if (high <= low) {
            throw new IllegalArgumentException("high must exceed low: low=" + low + ", high=" + high);
        }
        long rng = high - 1 - low; // inclusive range, as an unsigned value
        long[] out = new long[count];
        for (int i = 0; i < count; i++) {
            if (rng == 0) {
                out[i] = low;
            } else if (Long.compareUnsigned(rng, 0xFFFFFFFFL) <= 0) {
                out[i] = low + (rng == 0xFFFFFFFFL
                        ? Integer.toUnsignedLong(nextUint32())
                        : boundedLemire32((int) rng));
            } else if (rng == -1L) {
                out[i] = low + nextLong();
            } else {
                out[i] = low + boundedLemire64(rng);
            }
        }
        return out;
    }

    private long boundedLemire64(long rng) {
        long rngExcl = rng + 1;
        long x = nextLong();
        long leftover = x * rngExcl;
        if (Long.compareUnsigned(leftover, rngExcl) < 0) {
            long threshold = Long.remainderUnsigned(-rngExcl, rngExcl);
            while (Long.compareUnsigned(leftover, threshold) < 0) {
                x = nextLong();
                leftover = x * rngExcl;
            }
        }
        return unsignedMultiplyHigh(x, rngExcl);
    }

    private long boundedLemire32(int rng) {
        long rngExcl = Integer.toUnsignedLong(rng) + 1;
        long m = Integer.toUnsignedLong(nextUint32()) * rngExcl;
        long leftover = m & 0xFFFFFFFFL;
        if (leftover < rngExcl) {
            long threshold = ((1L << 32) - rngExcl) % rngExcl;
            while (leftover < threshold) {
                m = Integer.toUnsignedLong(nextUint32()) * rngExcl;
                leftover = m & 0xFFFFFFFFL;
            }
        }
        return m >>> 32;
    }

    /** High 64 bits of the unsigned 128-bit product (Java 17 lacks Math.unsignedMultiplyHigh). */
    static long unsignedMultiplyHigh(long a, long b) {
        return Math.multiplyHigh(a, b) + ((a >> 63) & b) + ((b >> 63) & a);
    }
}
