package ai.engram.hash;

import java.math.BigInteger;
import java.util.Set;

/** Primality and next-prime search for the Engram head table sizes. */
public final class Primes {

    private static final long[] WITNESSES_32 = {2, 7, 61};

    private Primes() {}

    /**
     * Deterministic for values below 2^32 (Miller-Rabin with witnesses 2, 7, 61); beyond that a
     * 100-round probabilistic test, far past any table size a machine can hold.
     *
     * @param n candidate
     * @return whether {@code n} is prime
     */
    public static boolean isPrime(long n) {
        if (n < 2) {
            return false;
        }
        for (long p : new long[] {2, 3, 5, 7, 11, 13}) {
            if (n % p == 0) {
                return n == p;
            }
        }
        if (n >= (1L << 32)) {
            return BigInteger.valueOf(n).isProbablePrime(100);
        }
        long d = n - 1;
        int r = Long.numberOfTrailingZeros(d);
        d >>= r;
        for (long a : WITNESSES_32) {
            if (a % n == 0) {
                continue;
            }
            long x = powMod(a, d, n);
            if (x == 1 || x == n - 1) {
                continue;
            }
            boolean composite = true;
            for (int i = 1; i < r && composite; i++) {
                x = x * x % n;
                composite = x != n - 1;
            }
            if (composite) {
                return false;
            }
        }
        return true;
    }

    /** Modular power for moduli below 2^32, where every product fits in 64 bits. */
    private static long powMod(long base, long exp, long mod) {
        long result = 1;
        base %= mod;
        while (exp > 0) {
            if ((exp & 1) == 1) {
                result = result * base % mod;
            }
            base = base * base % mod;
            exp >>= 1;
        }
        return result;
    }

    /**
     * The smallest prime strictly greater than {@code start} that is not in {@code used}.
     *
     * @param start exclusive lower bound
     * @param used primes already taken (not modified)
     * @return the prime
     */
    public static long nextUnusedPrime(long start, Set<Long> used) {
        long candidate = start + 1;
        while (!isPrime(candidate) || used.contains(candidate)) {
            candidate = Math.addExact(candidate, 1);
        }
        return candidate;
    }
}
