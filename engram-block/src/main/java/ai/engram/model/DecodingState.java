package ai.engram.model;

import ai.djl.ndarray.NDManager;
import ai.engram.block.KVCache;
import ai.engram.block.LeftPadding;

/**
 * Everything incremental decoding carries between steps: the attention KV cache, the last N-1 token ids of
 * every row, which the next step's N-gram hashes need, and, for prompts of different lengths prefilled together,
 * each row's leading pad positions. Rows advance in lockstep.
 */
public final class DecodingState implements AutoCloseable {

    private final KVCache cache;
    private final int batch;
    private final int context;
    private long[][] recent;
    private long position;
    private LeftPadding padding;

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

    /** @return the rows' leading pads, or null when no row is padded */
    public LeftPadding getPadding() {
        return padding;
    }

    void setPadding(LeftPadding padding) {
        this.padding = padding;
    }

    /** @return the longest row's length in tokens (pads not counted) */
    public long longestRow() {
        if (padding == null) {
            return position;
        }
        long fewest = Long.MAX_VALUE;
        for (long p : padding.pads()) {
            fewest = Math.min(fewest, p);
        }
        return position - fewest;
    }

    /**
     * Records a step of {@code columns} positions, keeping each row's last N-1 real tokens (a padded prefill gives
     * rows fewer real tokens than columns).
     *
     * @param realTokens per row, its tokens of this step without pads
     * @param columns positions the step added to every row
     */
    void advance(long[][] realTokens, int columns) {
        long[][] next = new long[batch][];
        for (int b = 0; b < batch; b++) {
            long[] all = new long[recent[b].length + realTokens[b].length];
            System.arraycopy(recent[b], 0, all, 0, recent[b].length);
            System.arraycopy(realTokens[b], 0, all, recent[b].length, realTokens[b].length);
            next[b] = java.util.Arrays.copyOfRange(all, Math.max(0, all.length - context), all.length);
        }
        recent = next;
        position += columns;
    }

    @Override
    public void close() {
        cache.close();
    }
}
