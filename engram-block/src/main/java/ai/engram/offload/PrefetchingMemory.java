package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.ParameterStore;
import ai.engram.memory.EngramMemory;
import ai.engram.memory.HashIds;
import ai.engram.memory.HeadLayout;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;

/**
 * A {@link TableMemory} that can start reading rows before the model asks for them: {@link #prefetch} gathers a
 * batch's rows on a background thread; a later {@link #read} of the same hash ids waits only for what is not done
 * yet, and a read of ids nobody prefetched gathers synchronously. Matching is by content, so the model and the
 * forward need not know that a prefetch happened. At most {@link #MAX_PENDING} prefetches wait; older ones are
 * dropped (their staging memory released).
 */
public final class PrefetchingMemory implements EngramMemory, AutoCloseable {

    /** Prefetches kept waiting for their read: the current batch and the next, with room to spare. */
    static final int MAX_PENDING = 4;

    private final TableMemory memory;
    private final Executor executor;
    private final PrefetchStatistics statistics;
    private final Deque<Pending> pending = new ArrayDeque<>();

    private record Pending(CompletableFuture<int[]> hashIds, CompletableFuture<PreparedRows> rows) {}

    /**
     * @param memory the memory read ahead
     * @param executor where gathers run
     * @param statistics where waits are recorded (shared by a model's layers)
     */
    public PrefetchingMemory(TableMemory memory, Executor executor, PrefetchStatistics statistics) {
        this.memory = memory;
        this.executor = executor;
        this.statistics = statistics;
    }

    /**
     * Starts gathering the rows of a batch.
     *
     * @param hashIds per-head indices of the batch, heads fastest; must not be changed afterwards
     * @return the gather, for callers that chain on it
     */
    public CompletableFuture<PreparedRows> prefetch(int[] hashIds) {
        return prefetch(CompletableFuture.completedFuture(hashIds));
    }

    /**
     * Starts gathering the rows of a batch whose hash ids are still being computed.
     *
     * @param hashIds the batch's per-head indices, when known
     * @return the gather
     */
    public CompletableFuture<PreparedRows> prefetch(CompletableFuture<int[]> hashIds) {
        CompletableFuture<PreparedRows> rows = hashIds.thenApplyAsync(memory::prepare, executor);
        // Queued now, not when the ids are ready: a read that follows once they are known must find it (queued from
        // the hashing thread, it could come a moment after the read and be missed).
        enqueue(new Pending(hashIds, rows));
        return rows;
    }

    private void enqueue(Pending entry) {
        Pending dropped = null;
        synchronized (pending) {
            pending.addLast(entry);
            if (pending.size() > MAX_PENDING) {
                dropped = pending.removeFirst();
            }
        }
        if (dropped != null) {
            dropped.rows().thenAccept(PreparedRows::close);
        }
    }

    @Override
    public void readAhead(int[] hashIds) {
        prefetch(hashIds);
    }

    /** @return the memory read ahead */
    public TableMemory memory() {
        return memory;
    }

    /** @return wait statistics of the reads so far (shared with the other layers of the same prefetcher) */
    public PrefetchStatistics statistics() {
        return statistics;
    }

    @Override
    public HeadLayout layout() {
        return memory.layout();
    }

    @Override
    public int headDim() {
        return memory.headDim();
    }

    @Override
    public NDArray read(ParameterStore parameterStore, NDArray hashIds, NDManager manager, DataType type,
            boolean training) {
        TableMemory.checkReadOnly(training);
        layout().checkShape(hashIds.getShape());
        int[] ids = HashIds.toHost(hashIds);
        CompletableFuture<PreparedRows> ahead = take(ids);
        if (ahead == null) {
            return memory.deliver(memory.prepare(ids), hashIds.getShape(), manager, type);
        }
        boolean ready = ahead.isDone();
        long start = System.nanoTime();
        PreparedRows rows;
        try {
            rows = ahead.join();
        } catch (CompletionException | CancellationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new IllegalStateException("Engram prefetch failed", cause);
        }
        statistics.record(System.nanoTime() - start, !ready);
        return memory.deliver(rows, hashIds.getShape(), manager, type);
    }

    private CompletableFuture<PreparedRows> take(int[] ids) {
        synchronized (pending) {
            for (var it = pending.iterator(); it.hasNext(); ) {
                Pending p = it.next();
                // Still hashing (or failed): not the ids of a read already underway.
                CompletableFuture<int[]> f = p.hashIds();
                if (f.isDone() && !f.isCompletedExceptionally() && Arrays.equals(f.join(), ids)) {
                    it.remove();
                    return p.rows();
                }
            }
        }
        return null;
    }

    /** Releases the staging memory of prefetches nobody read. */
    @Override
    public void close() {
        synchronized (pending) {
            for (Pending p : pending) {
                p.rows().thenAccept(PreparedRows::close);
            }
            pending.clear();
        }
    }
}
