package ai.engram.hash;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.SplittableRandom;

/** The division-free floor-mod against {@link Math#floorMod} on random and extreme dividends. */
public class PrimeModulusTest {

    @Test
    public void agreesWithFloorMod() {
        long[] divisors = {3, 5, 1009, 646_403, 2_262_401, 7_239_683, 2_147_483_647L, 4_294_967_311L,
                (1L << 61) - 1};
        long[] extremes = {0, 1, -1, Long.MAX_VALUE, Long.MIN_VALUE, Long.MIN_VALUE + 1, Long.MAX_VALUE - 1, -3, 3};
        SplittableRandom random = new SplittableRandom(42);
        for (long p : divisors) {
            long m = PrimeModulus.reciprocal(p);
            for (long x : extremes) {
                Assert.assertEquals(PrimeModulus.floorMod(x, p, m), Math.floorMod(x, p), "x=" + x + " p=" + p);
                Assert.assertEquals(PrimeModulus.floorMod(x + p, p, m), Math.floorMod(x + p, p), "x=" + (x + p) + " p=" + p);
            }
            for (int i = 0; i < 200_000; i++) {
                long x = random.nextLong();
                Assert.assertEquals(PrimeModulus.floorMod(x, p, m), Math.floorMod(x, p), "x=" + x + " p=" + p);
            }
        }
    }

    @Test
    public void rejectsEvenOrTinyDivisors() {
        Assert.expectThrows(IllegalArgumentException.class, () -> PrimeModulus.reciprocal(2));
        Assert.expectThrows(IllegalArgumentException.class, () -> PrimeModulus.reciprocal(1000));
        Assert.expectThrows(IllegalArgumentException.class, () -> PrimeModulus.reciprocal(-7));
    }

    @Test
    public void primesAgreeWithTrialDivision() {
        for (long n = -3; n < 20_000; n++) {
            boolean prime = n >= 2;
            for (long d = 2; d * d <= n && prime; d++) {
                prime = n % d != 0;
            }
            Assert.assertEquals(Primes.isPrime(n), prime, "n=" + n);
        }
        Assert.assertTrue(Primes.isPrime(4_294_967_311L));
        Assert.assertFalse(Primes.isPrime(4_294_967_297L)); // 641 × 6700417
        Assert.assertFalse(Primes.isPrime(3_215_031_751L)); // strong pseudoprime to bases 2, 3, 5, 7
    }
}
