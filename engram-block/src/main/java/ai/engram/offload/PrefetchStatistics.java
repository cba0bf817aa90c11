package ai.engram.offload;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** How long Engram layers waited for prefetched rows: zero wait means the gathers were fully hidden. */
public final class PrefetchStatistics {

    private final LongAdder layerFetches = new LongAdder();
    private final LongAdder waits = new LongAdder();
    private final LongAdder waitNanos = new LongAdder();
    private final AtomicLong maxWaitNanos = new AtomicLong();

    void record(long nanos, boolean waited) {
        layerFetches.increment();
        if (waited) {
            waits.increment();
            waitNanos.add(nanos);
            maxWaitNanos.accumulateAndGet(nanos, Math::max);
        }
    }

    /** @return layer inputs handed out */
    public long layerFetches() {
        return layerFetches.sum();
    }

    /** @return how many of them were not ready when asked for */
    public long waits() {
        return waits.sum();
    }

    /** @return total time layers spent waiting, in nanoseconds */
    public long waitNanos() {
        return waitNanos.sum();
    }

    /** @return the longest single wait, in nanoseconds */
    public long maxWaitNanos() {
        return maxWaitNanos.get();
    }

    @Override
    public String toString() {
        return String.format("%d layer fetches, %d waited, total wait %.2f ms, max %.2f ms", layerFetches(), waits(),
                waitNanos() / 1e6, maxWaitNanos() / 1e6);
    }
}
