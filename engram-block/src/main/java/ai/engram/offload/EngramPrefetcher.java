package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.engram.model.EngramInputs;
import ai.engram.model.EngramLM;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Starts a batch's Engram lookups as soon as its token ids are known: the ids are hashed for every Engram layer
 * and each layer's rows gathered on background threads while the model runs earlier batches or layers. A layer
 * waits only if its rows are not ready when it is reached ({@link PrefetchStatistics}).
 */
public final class EngramPrefetcher implements AutoCloseable {

    private final EngramLM lm;
    private final EngramTables tables;
    private final ExecutorService executor;
    private final PrefetchStatistics statistics = new PrefetchStatistics();

    /**
     * @param lm the model (its hasher)
     * @param tables the model's tables
     */
    public EngramPrefetcher(EngramLM lm, EngramTables tables) {
        this.lm = lm;
        this.tables = tables;
        AtomicInteger n = new AtomicInteger();
        this.executor = Executors.newFixedThreadPool(Math.max(1, tables.layerIds().length), r -> {
            Thread t = new Thread(r, "engram-prefetch-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * @param ids {@code [B·T]} token ids, row-major
     * @param b batch rows
     * @param t positions
     * @return the batch's Engram inputs, filling in the background
     */
    public Batch prefetch(long[] ids, int b, int t) {
        long[] copy = ids.clone();
        CompletableFuture<int[][]> hashes = CompletableFuture.supplyAsync(() -> lm.hashOnHost(copy, b, t), executor);
        int layers = tables.layerIds().length;
        @SuppressWarnings("unchecked")
        CompletableFuture<PreparedRows>[] rows = new CompletableFuture[layers];
        for (int i = 0; i < layers; i++) {
            int layer = i;
            rows[i] = hashes.thenApplyAsync(h -> tables.prepare(layer, h[layer]), executor);
        }
        return new Batch(rows, b, t);
    }

    /** @return wait statistics over all batches so far */
    public PrefetchStatistics statistics() {
        return statistics;
    }

    @Override
    public void close() {
        // Waits for gathers in flight: the tables may be closed right after this returns.
        executor.shutdownNow();
        ExecutorShutdown.awaitTermination(executor, "Engram prefetch");
    }

    /** One batch's prefetched inputs; close it if the forward is abandoned. */
    public final class Batch implements EngramInputs, AutoCloseable {
        private final CompletableFuture<PreparedRows>[] rows;
        private final int b;
        private final int t;

        private Batch(CompletableFuture<PreparedRows>[] rows, int b, int t) {
            this.rows = rows;
            this.b = b;
            this.t = t;
        }

        @Override
        public NDArray forLayer(int engramIndex, NDManager manager) {
            CompletableFuture<PreparedRows> future = rows[engramIndex];
            boolean ready = future.isDone();
            long start = System.nanoTime();
            PreparedRows prepared;
            try {
                prepared = future.join();
            } catch (CompletionException | CancellationException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                if (cause instanceof RuntimeException) {
                    throw (RuntimeException) cause;
                }
                throw new IllegalStateException("prefetch of Engram layer " + engramIndex + " failed", cause);
            }
            statistics.record(System.nanoTime() - start, !ready);
            return tables.toMemory(prepared, b, t, manager);
        }

        /** Releases staging buffers of layers that were prefetched but never consumed. */
        @Override
        public void close() {
            for (CompletableFuture<PreparedRows> future : rows) {
                future.thenAccept(PreparedRows::close);
            }
        }
    }
}
