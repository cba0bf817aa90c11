package ai.engram.model;

/**
 * What the generator produced for one prompt.
 *
 * @param tokens the generated ids, ending at (and including) EOS if it was produced
 * @param logProbabilities per token, its natural-log probability under the distribution it was drawn from
 * @param stoppedByString whether a stop string ended it (the text then contains it; callers cut it off)
 */
public record Generation(long[] tokens, double[] logProbabilities, boolean stoppedByString) {}
