package ai.engram.offload;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.engram.hash.NgramHasher;
import ai.engram.memory.HashIds;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reads a model's Engram rows ahead: it wraps each layer's {@link TableMemory} in a {@link PrefetchingMemory}
 * (give {@link #memories()} to the model) and, as soon as a batch's token ids are known ({@link #prefetch}),
 * hashes them for every Engram layer and starts each layer's gather on background threads while the model runs
 * earlier batches or layers. A layer waits only if its rows are not ready when it is reached
 * ({@link PrefetchStatistics}).
 */
public final class EngramPrefetcher implements AutoCloseable {

    private final NgramHasher hasher;
    private final ExecutorService executor;
    private final List<PrefetchingMemory> memories;
    private final PrefetchStatistics statistics = new PrefetchStatistics();

    /**
     * @param hasher the model's hasher
     * @param memories one per Engram layer, config order
     */
    public EngramPrefetcher(NgramHasher hasher, List<TableMemory> memories) {
        if (memories.size() != hasher.getLayerIds().length) {
            throw new IllegalArgumentException(hasher.getLayerIds().length + " Engram layers but " + memories.size()
                    + " memories");
        }
        this.hasher = hasher;
        AtomicInteger n = new AtomicInteger();
        this.executor = Executors.newFixedThreadPool(Math.max(1, memories.size()), r -> {
            Thread t = new Thread(r, "engram-prefetch-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        List<PrefetchingMemory> wrapped = new ArrayList<>();
        for (TableMemory memory : memories) {
            wrapped.add(new PrefetchingMemory(memory, executor, statistics));
        }
        this.memories = Collections.unmodifiableList(wrapped);
    }

    /** @return the reading-ahead memories, one per Engram layer, config order, for the model */
    public List<PrefetchingMemory> memories() {
        return memories;
    }

    /**
     * Starts a batch: hashing, then every layer's gather, in the background.
     *
     * @param ids {@code [B·T]} token ids, row-major
     * @param b batch rows
     * @param t positions
     * @return the batch, whose {@link Batch#inputs} are the model's inputs (so the model does not hash again)
     */
    public Batch prefetch(long[] ids, int b, int t) {
        long[] copy = ids.clone();
        int layers = memories.size();
        CompletableFuture<int[][]> hashes = CompletableFuture.supplyAsync(() -> {
            int[][] buffers = new int[layers][b * t * hasher.headsPerLayer()];
            hasher.hashAllInto(copy, b, t, buffers);
            return buffers;
        }, executor);
        for (int i = 0; i < layers; i++) {
            int layer = i;
            memories.get(i).prefetch(hashes.thenApply(h -> h[layer]));
        }
        return new Batch(copy, hashes, b, t);
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
        memories.forEach(PrefetchingMemory::close);
    }

    /** One batch whose rows are being gathered. */
    public final class Batch {
        private final long[] ids;
        private final CompletableFuture<int[][]> hashes;
        private final int b;
        private final int t;

        private Batch(long[] ids, CompletableFuture<int[][]> hashes, int b, int t) {
            this.ids = ids;
            this.hashes = hashes;
            this.b = b;
            this.t = t;
        }

        /**
         * The model's inputs for this batch: the token ids and, already computed, each Engram layer's hash ids (on
         * the host), which the prefetching memories recognise.
         *
         * @param manager the forward's manager
         * @return {@code [ids [B, T], hashIds [B, T, H] per Engram layer]}
         */
        public NDList inputs(NDManager manager) {
            int[][] perLayer;
            try {
                perLayer = hashes.join();
            } catch (CompletionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : e;
            }
            NDList inputs = new NDList(manager.create(ids, new Shape(b, t)));
            inputs.addAll(HashIds.onHost(perLayer, b, t, hasher.headsPerLayer(), manager));
            return inputs;
        }
    }
}
