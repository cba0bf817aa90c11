package ai.engram.model;

/**
 * How to continue a prompt: greedy when {@code doSample} is false or the temperature is 0, otherwise seeded
 * sampling with temperature, top-k and nucleus (top-p) filtering. Stops at {@code eosTokenId} (if ≥ 0) or after
 * {@code maxNewTokens}.
 *
 * @param maxNewTokens tokens to generate at most, ≥ 1
 * @param temperature softmax temperature, ≥ 0
 * @param topK keep the k most likely tokens (0 = all)
 * @param topP keep the smallest set with this much probability, in (0, 1]
 * @param doSample sample instead of taking the argmax
 * @param seed sampling seed; the same seed reproduces the same text
 * @param eosTokenId end-of-sequence id, or -1
 */
public record GenerationSettings(int maxNewTokens, double temperature, int topK, double topP, boolean doSample,
        long seed, long eosTokenId) {

    public GenerationSettings {
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("max_new_tokens must be >= 1, got " + maxNewTokens);
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
    }

    /**
     * @param maxNewTokens tokens to generate
     * @param eosTokenId end-of-sequence id or -1
     * @return greedy decoding settings
     */
    public static GenerationSettings greedy(int maxNewTokens, long eosTokenId) {
        return new GenerationSettings(maxNewTokens, 1.0, 0, 1.0, false, 0, eosTokenId);
    }

    /** @return whether decoding is deterministic argmax */
    public boolean isGreedy() {
        return !doSample || temperature == 0;
    }

    /** @return the settings as numbers, to travel in an NDList */
    public double[] toArray() {
        return new double[] {maxNewTokens, temperature, topK, topP, doSample ? 1 : 0, seed, eosTokenId};
    }

    /**
     * @param values output of {@link #toArray()}
     * @return the settings
     */
    public static GenerationSettings fromArray(double[] values) {
        return new GenerationSettings((int) values[0], values[1], (int) values[2], values[3], values[4] != 0,
                (long) values[5], (long) values[6]);
    }
}
