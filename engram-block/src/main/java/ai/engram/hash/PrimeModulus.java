package ai.engram.hash;

/**
 * Floor-modulo by a fixed odd divisor without a hardware division: Barrett reduction with a precomputed
 * reciprocal. A 64-bit {@code idiv} costs 20-90 cycles and hashing does (N-1)·K of them per token and layer,
 * which made division nearly the whole cost of hashing.
 *
 * <p>Matches numpy's int64 {@code %} for a positive divisor: the result lies in {@code [0, p)} also for
 * negative (wrapped) dividends.
 */
final class PrimeModulus {

    private PrimeModulus() {}

    /**
     * @param divisor an odd divisor in {@code [3, 2^62)}
     * @return {@code floor(2^64 / divisor)}, which fits a positive long because the divisor is at least 3
     */
    static long reciprocal(long divisor) {
        if (divisor < 3 || (divisor & 1) == 0 || divisor >= (1L << 62)) {
            throw new IllegalArgumentException("divisor must be an odd number in [3, 2^62): " + divisor);
        }
        // For odd p, floor((2^64 - 1) / p) == floor(2^64 / p).
        return Long.divideUnsigned(-1L, divisor);
    }

    /**
     * {@code Math.floorMod(x, p)} for any long x.
     *
     * <p>The signed high product {@code q = floor(x·m / 2^64)} is within one of {@code floor(x / p)} (above
     * it for negative x, below it for positive x), so {@code x - q·p} lies in {@code [-p, 2p)}; two branch-free
     * corrections bring it into {@code [0, p)}. Intermediate products may wrap; the remainder is still exact.
     *
     * @param x dividend
     * @param divisor p
     * @param reciprocal {@link #reciprocal(long) reciprocal(p)}
     * @return the floor-modulo, in {@code [0, p)}
     */
    static long floorMod(long x, long divisor, long reciprocal) {
        long r = x - Math.multiplyHigh(x, reciprocal) * divisor;
        r += (r >> 63) & divisor; // [-p, 2p) -> [0, 2p)
        r -= divisor;             //          -> [-p, p)
        return r + ((r >> 63) & divisor);
    }
}
