package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.ArrayList;
import java.util.List;

/**
 * How to continue a prompt: greedy when {@code doSample} is false or the temperature is 0, otherwise seeded
 * sampling with temperature, top-k and nucleus (top-p) filtering, after an optional repetition penalty. Stops at
 * {@code eosTokenId} (if ≥ 0) or after {@code maxNewTokens}.
 *
 * @param maxNewTokens tokens to generate at most, ≥ 1
 * @param temperature softmax temperature, ≥ 0
 * @param topK keep the k most likely tokens (0 = all)
 * @param topP keep the smallest set with this much probability, in (0, 1]
 * @param doSample sample instead of taking the argmax
 * @param seed sampling seed; the same seed reproduces the same text
 * @param eosTokenId end-of-sequence id, or -1
 * @param repetitionPenalty divides the positive logits (multiplies the negative ones) of every id already in the
 *     prompt or the output; 1 = none (transformers' {@code repetition_penalty})
 */
public record GenerationSettings(int maxNewTokens, double temperature, int topK, double topP, boolean doSample,
        long seed, long eosTokenId, double repetitionPenalty) {

    public GenerationSettings {
        if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetition_penalty must be a finite number > 0, got "
                    + repetitionPenalty);
        }
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
     * Settings without a repetition penalty.
     *
     * @param maxNewTokens tokens to generate at most, ≥ 1
     * @param temperature softmax temperature, ≥ 0
     * @param topK keep the k most likely tokens (0 = all)
     * @param topP keep the smallest set with this much probability, in (0, 1]
     * @param doSample sample instead of taking the argmax
     * @param seed sampling seed
     * @param eosTokenId end-of-sequence id, or -1
     */
    public GenerationSettings(int maxNewTokens, double temperature, int topK, double topP, boolean doSample, long seed,
            long eosTokenId) {
        this(maxNewTokens, temperature, topK, topP, doSample, seed, eosTokenId, 1.0);
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
     * Settings of a batch's rows as two arrays, for a predictor's NDList (DJL's predictor hands a block nothing
     * else): the integers as int64, so every seed survives (a float64 would round seeds above 2^53), the reals as
     * float64.
     *
     * @param rows one settings per row
     * @param manager where the arrays go
     * @return {@code [int64 [B, 5] (maxNewTokens, topK, doSample, seed, eosTokenId), float64 [B, 3] (temperature,
     *     topP, repetitionPenalty)]}
     */
    public static NDList encode(List<GenerationSettings> rows, NDManager manager) {
        long[] integers = new long[rows.size() * 5];
        double[] reals = new double[rows.size() * 3];
        for (int r = 0; r < rows.size(); r++) {
            GenerationSettings s = rows.get(r);
            System.arraycopy(new long[] {s.maxNewTokens, s.topK, s.doSample ? 1 : 0, s.seed, s.eosTokenId}, 0,
                    integers, r * 5, 5);
            System.arraycopy(new double[] {s.temperature, s.topP, s.repetitionPenalty}, 0, reals, r * 3, 3);
        }
        return new NDList(manager.create(integers, new Shape(rows.size(), 5)),
                manager.create(reals, new Shape(rows.size(), 3)));
    }

    /**
     * @param manager where the arrays go
     * @return these settings as one row of {@link #encode(List, NDManager)}
     */
    public NDList encode(NDManager manager) {
        return encode(List.of(this), manager);
    }

    /**
     * @param integers the first array of {@link #encode(List, NDManager)}
     * @param reals the second
     * @return one settings per row
     * @throws IllegalArgumentException if the arrays are not what {@code encode} writes, or a value is invalid
     */
    public static List<GenerationSettings> decodeRows(NDArray integers, NDArray reals) {
        Shape is = integers.getShape();
        Shape rs = reals.getShape();
        if (integers.getDataType() != DataType.INT64 || reals.getDataType() != DataType.FLOAT64 || is.dimension() != 2
                || rs.dimension() != 2 || is.get(1) != 5 || rs.get(1) != 3 || is.get(0) != rs.get(0)) {
            throw new IllegalArgumentException("generation settings must be int64 [B, 5] and float64 [B, 3], got "
                    + integers.getDataType() + " " + is + " and " + reals.getDataType() + " " + rs);
        }
        long[] i = integers.toLongArray();
        double[] r = reals.toDoubleArray();
        List<GenerationSettings> out = new ArrayList<>();
        for (int row = 0; row < is.get(0); row++) {
            int a = row * 5;
            int b = row * 3;
            if (i[a] > Integer.MAX_VALUE || i[a + 1] > Integer.MAX_VALUE || i[a + 1] < Integer.MIN_VALUE) {
                throw new IllegalArgumentException("max_new_tokens " + i[a] + " or top_k " + i[a + 1]
                        + " is out of range");
            }
            out.add(new GenerationSettings((int) i[a], r[b], (int) i[a + 1], r[b + 1], i[a + 2] != 0, i[a + 3],
                    i[a + 4], r[b + 2]));
        }
        return out;
    }

    /**
     * @param integers the first array of {@link #encode(NDManager)}
     * @param reals the second
     * @return the settings of its one row
     * @throws IllegalArgumentException if the arrays do not hold exactly one row of settings
     */
    public static GenerationSettings decode(NDArray integers, NDArray reals) {
        List<GenerationSettings> rows = decodeRows(integers, reals);
        if (rows.size() != 1) {
            throw new IllegalArgumentException("expected the settings of one row, got " + rows.size());
        }
        return rows.get(0);
    }
}
