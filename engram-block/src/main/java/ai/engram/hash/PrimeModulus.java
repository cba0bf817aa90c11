package ai.engram.hash;

/**
 * Floor-modulo by a fixed prime without a hardware division: Barrett reduction with a precomputed
 * reciprocal. A 64-bit {@code idiv} costs 20-90 cycles; hashing does (N-1)·K of them per token and layer,
 * which made division the whole cost of hashing.
 *
 * <p>Matches numpy's int64 {@code %} for a positive divisor: the result lies in {@code [0, p)} also for
 * negative (wrapped) dividends.
 */
final class PrimeModulus {

    private final long divisor;
    /** floor(2^64 / p); p is odd, so this is also floor((2^64 - 1) / p). */
    private final long reciprocal;
    /** 2^64 mod p: the correction that turns an unsigned remainder into the signed floor-mod. */
    private final long wrapCorrection;

    PrimeModulus(long divisor) {
        if (divisor < 3 || (divisor & 1) == 0 || divisor >= (1L << 62)) {
            throw new IllegalArgumentException("divisor must be an odd number in [3, 2^62): " + divisor);
        }
        this.divisor = divisor;
        this.reciprocal = Long.divideUnsigned(-1L, divisor);
        this.wrapCorrection = Long.remainderUnsigned(Long.remainderUnsigned(-1L, divisor) + 1, divisor);
    }

    long divisor() {
        return divisor;
    }

    /**
     * {@code Math.floorMod(x, p)}.
     *
     * @param x any long
     * @return the floor-modulo, in {@code [0, p)}
     */
    long floorMod(long x) {
        // The estimated quotient is low by at most one, so the remainder is in [0, 2p).
        long q = Pcg64.unsignedMultiplyHigh(x, reciprocal);
        long r = x - q * divisor;
        if (r >= divisor) {
            r -= divisor;
        }
        if (x < 0) {
            // x = u - 2^64, so x mod p = (u mod p - 2^64 mod p) mod p.
            r -= wrapCorrection;
            if (r < 0) {
                r += divisor;
            }
        }
        return r;
    }
}
