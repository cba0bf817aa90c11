package ai.engram.model;

/**
 * Receives each token as soon as a generation chooses it (for streaming responses). Called on the generating
 * thread, rows of a step in order, before the next step starts; a slow listener slows the whole batch.
 */
@FunctionalInterface
public interface TokenListener {

    /**
     * @param row the task's index in the batch
     * @param token the chosen id
     * @param logProbability its log-probability under the distribution it was drawn from
     */
    void onToken(int row, long token, double logProbability);
}
