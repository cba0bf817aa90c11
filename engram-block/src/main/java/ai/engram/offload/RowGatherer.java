package ai.engram.offload;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs a row gather on several threads: the rows are split into contiguous ranges, each copied by one thread into
 * its own part of the staging buffer, so threads never share a cache line of output. Small gathers stay on the
 * calling thread, where waking workers would cost more than the copy.
 */
public final class RowGatherer implements AutoCloseable {

    /** Below this many rows per thread, splitting does not pay. */
    private static final int MIN_ROWS_PER_THREAD = 2048;

    private final int threads;
    private final ExecutorService workers;

    /** A body over a range of positions {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    /** @param threads gather threads including the caller (≥ 1) */
    public RowGatherer(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("gather threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        AtomicInteger n = new AtomicInteger();
        this.workers = threads == 1 ? null : Executors.newFixedThreadPool(threads - 1, r -> {
            Thread t = new Thread(r, "engram-gather-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** @return a gatherer with one thread per available processor */
    public static RowGatherer perProcessor() {
        return new RowGatherer(Runtime.getRuntime().availableProcessors());
    }

    /**
     * @param count positions
     * @param task called once per range; must be thread-safe across disjoint ranges
     */
    public void run(int count, RangeTask task) {
        int parts = (int) Math.min(threads, Math.max(1, count / MIN_ROWS_PER_THREAD));
        if (parts == 1) {
            task.run(0, count);
            return;
        }
        List<Future<?>> futures = new ArrayList<>(parts - 1);
        int step = (count + parts - 1) / parts;
        for (int p = 1; p < parts; p++) {
            int from = p * step;
            int to = Math.min(count, from + step);
            futures.add(workers.submit(() -> task.run(from, to)));
        }
        RuntimeException failure = null;
        try {
            task.run(0, Math.min(count, step));
        } catch (RuntimeException e) {
            failure = e;
        }
        // Every range is waited for, even after a failure or an interrupt: the caller may free the rows or the
        // output buffer as soon as this returns, and a copy still running would then touch freed memory.
        boolean interrupted = false;
        for (Future<?> f : futures) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (failure == null) {
                        failure = cause instanceof RuntimeException r ? r : new IllegalStateException(cause);
                    }
                    break;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
            if (failure == null) {
                failure = new IllegalStateException("interrupted while gathering rows");
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** @return threads including the caller */
    public int threads() {
        return threads;
    }

    @Override
    public void close() {
        if (workers != null) {
            workers.shutdownNow();
            ExecutorShutdown.awaitTermination(workers, "row gather");
        }
    }
}
