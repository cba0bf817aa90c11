package ai.engram.model;

import ai.djl.ndarray.NDManager;
import ai.engram.block.KVCache;

/**
 * Everything incremental decoding carries between steps: the attention KV cache and the last N-1 token ids of
 * every row, which the next step's N-gram hashes need. Rows advance in lockstep.
 */
public final class DecodingState implements AutoCloseable {

    private final KVCache cache;
    private final int batch;
    private final int context;
    private long[][] recent;
    private long position;

    DecodingState(NDManager manager, int numLayers, int batch, int context) {
        this.cache = new KVCache(manager, numLayers);
        this.batch = batch;
        this.context = context;
        this.recent = new long[batch][0];
    }

    /** @return the attention cache */
    public KVCache getCache() {
        return cache;
    }

    /** @return rows */
    public int getBatch() {
        return batch;
    }

    /** @return tokens consumed so far per row */
    public long getPosition() {
        return position;
    }

    /** @return per row, the last (at most N-1) token ids seen */
    long[][] recentTokens() {
        return recent;
    }

    /** Records the ids of a step, keeping the last {@code context} per row. */
    void advance(long[] ids, int steps) {
        long[][] next = new long[batch][];
        for (int b = 0; b < batch; b++) {
            int keep = Math.min(context, recent[b].length + steps);
            long[] window = new long[keep];
            int fromRecent = Math.max(0, keep - steps);
            System.arraycopy(recent[b], recent[b].length - fromRecent, window, 0, fromRecent);
            System.arraycopy(ids, b * steps + (steps - (keep - fromRecent)), window, fromRecent, keep - fromRecent);
            next[b] = window;
        }
        recent = next;
        position += steps;
    }

    @Override
    public void close() {
        cache.close();
    }
}
