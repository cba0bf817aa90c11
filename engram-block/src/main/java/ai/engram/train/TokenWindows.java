package ai.engram.train;

import java.util.SplittableRandom;

/**
 * Training batches from one token stream: random windows of T + 1 tokens, inputs the first T, targets the last
 * T. The windows of step s depend only on (seed, s), so a run resumed at step s sees exactly the batches an
 * uninterrupted run would.
 */
public final class TokenWindows {

    /** One batch, row-major {@code [B, T]}. */
    public record Batch(long[] inputs, long[] targets, int batchSize, int seqLen) {}

    private final long[] tokens;
    private final long seed;

    /**
     * @param tokens the token stream
     * @param seed sampling seed
     */
    public TokenWindows(long[] tokens, long seed) {
        if (tokens.length < 2) {
            throw new IllegalArgumentException("need at least 2 tokens, got " + tokens.length);
        }
        this.tokens = tokens;
        this.seed = seed;
    }

    /** @return the stream length */
    public int size() {
        return tokens.length;
    }

    /**
     * @param step training step
     * @param batchSize B
     * @param seqLen T, at most size() - 1
     * @return the step's batch
     */
    public Batch batch(long step, int batchSize, int seqLen) {
        if (seqLen < 1 || seqLen >= tokens.length || batchSize < 1) {
            throw new IllegalArgumentException("windows of " + seqLen + " + 1 tokens need a longer stream than "
                    + tokens.length + " tokens (and batch >= 1)");
        }
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + step);
        long[] inputs = new long[batchSize * seqLen];
        long[] targets = new long[batchSize * seqLen];
        for (int b = 0; b < batchSize; b++) {
            int start = random.nextInt(tokens.length - seqLen);
            System.arraycopy(tokens, start, inputs, b * seqLen, seqLen);
            System.arraycopy(tokens, start + 1, targets, b * seqLen, seqLen);
        }
        return new Batch(inputs, targets, batchSize, seqLen);
    }

    /**
     * Consecutive non-overlapping windows for evaluation, in order.
     *
     * @param index window index
     * @param seqLen T
     * @return a batch of one window, or null past the end
     */
    public Batch window(int index, int seqLen) {
        int start = index * seqLen;
        if (start + seqLen + 1 > tokens.length) {
            return null;
        }
        long[] inputs = new long[seqLen];
        long[] targets = new long[seqLen];
        System.arraycopy(tokens, start, inputs, 0, seqLen);
        System.arraycopy(tokens, start + 1, targets, 0, seqLen);
        return new Batch(inputs, targets, 1, seqLen);
    }
}
