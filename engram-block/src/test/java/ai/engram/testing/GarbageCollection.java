package ai.engram.testing;

import java.lang.ref.Cleaner;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Makes the JVM free what it would free "some time later": unreachable direct buffers are released by their
 * cleaners only after a collection notices them, which is why use-after-free bugs of Java-owned native memory
 * crash at a rate that depends on heap size and load. Tests call {@link #collectAndClean} where such memory would
 * be freed in the worst case, so the bug shows every time instead of sometimes.
 */
public final class GarbageCollection {

    private static final Cleaner CLEANER = Cleaner.create();

    private GarbageCollection() {}

    /**
     * Collects until a sentinel object registered now has been cleaned, twice over: by then the cleaners of
     * everything that was unreachable before the call (direct buffers included) have run or are queued behind it.
     */
    public static void collectAndClean() {
        for (int round = 0; round < 2; round++) {
            CountDownLatch cleaned = new CountDownLatch(1);
            registerSentinel(cleaned);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            try {
                while (!cleaned.await(20, TimeUnit.MILLISECONDS)) {
                    System.gc();
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("the JVM did not collect an unreachable object in 10 s");
                    }
                }
                // Direct buffers use the JDK's own cleaner thread: give it the same chance to run.
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }

    private static void registerSentinel(CountDownLatch cleaned) {
        CLEANER.register(new Object(), cleaned::countDown);
    }
}
