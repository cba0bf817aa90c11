package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

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

    /**
     * The settings as two arrays, for a predictor's NDList (DJL's predictor hands a block nothing else): the
     * integers as int64, so every seed survives (a float64 would round seeds above 2^53), and the reals as float64.
     *
     * @param manager where the arrays go
     * @return {@code [int64 [maxNewTokens, topK, doSample, seed, eosTokenId], float64 [temperature, topP]]}
     */
    public NDList encode(NDManager manager) {
        return new NDList(manager.create(new long[] {maxNewTokens, topK, doSample ? 1 : 0, seed, eosTokenId}),
                manager.create(new double[] {temperature, topP}));
    }

    /**
     * @param integers the first array of {@link #encode}
     * @param reals the second
     * @return the settings
     * @throws IllegalArgumentException if the arrays are not what {@link #encode} writes, or the values are invalid
     */
    public static GenerationSettings decode(NDArray integers, NDArray reals) {
        if (integers.getDataType() != DataType.INT64 || integers.size() != 5 || reals.getDataType() != DataType.FLOAT64
                || reals.size() != 2) {
            throw new IllegalArgumentException("generation settings must be int64 [5] and float64 [2], got "
                    + integers.getDataType() + " " + integers.getShape() + " and " + reals.getDataType() + " "
                    + reals.getShape());
        }
        long[] i = integers.toLongArray();
        double[] r = reals.toDoubleArray();
        if (i[0] > Integer.MAX_VALUE || i[1] > Integer.MAX_VALUE || i[1] < Integer.MIN_VALUE) {
            throw new IllegalArgumentException("max_new_tokens " + i[0] + " or top_k " + i[1] + " is out of range");
        }
        return new GenerationSettings((int) i[0], r[0], (int) i[1], r[1], i[2] != 0, i[3], i[4]);
    }
}
