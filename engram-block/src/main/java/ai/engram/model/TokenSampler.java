package ai.engram.model;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Chooses the next token from a row's logits: greedy argmax, or a seeded draw after temperature, top-k and
 * nucleus (top-p) filtering. Candidates are ranked by logit (ties by id) with primitive keys: top-k keeps a heap of
 * k entries, one pass over the vocabulary, and only a nucleus without top-k sorts the whole vocabulary; plain
 * sampling sorts nothing. A repetition penalty (transformers' semantics: a seen token's logit is divided by the
 * penalty if positive, multiplied if negative) applies before all of them.
 */
final class TokenSampler {

    /**
     * A choice and its log-probability under the distribution it was drawn from (greedy: the softmax of the
     * penalised logits).
     *
     * @param token the id
     * @param logProbability natural log of its probability
     */
    record Choice(long token, double logProbability) {}

    private TokenSampler() {}

    /**
     * @param logits the row's logits (changed in place by the repetition penalty)
     * @param settings decoding settings
     * @param seen ids in the prompt or generated so far (for the repetition penalty), or null
     * @param random the row's generator
     * @return the token and its log-probability
     */
    static Choice choose(float[] logits, GenerationSettings settings, boolean[] seen, SplittableRandom random) {
        double penalty = settings.repetitionPenalty();
        if (penalty != 1.0 && seen != null) {
            for (int i = 0; i < logits.length; i++) {
                if (seen[i]) {
                    logits[i] = (float) (logits[i] > 0 ? logits[i] / penalty : logits[i] * penalty);
                }
            }
        }
        if (settings.isGreedy()) {
            int best = 0;
            for (int i = 1; i < logits.length; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return new Choice(best, logits[best] - logSumExp(logits));
        }
        int[] order = candidates(logits, settings.topK(), settings.topP() < 1);
        double temperature = settings.temperature();
        double max = Double.NEGATIVE_INFINITY;
        for (int id : order) {
            max = Math.max(max, logits[id]);
        }
        double[] weights = new double[order.length];
        double sum = 0;
        for (int i = 0; i < order.length; i++) {
            weights[i] = Math.exp((logits[order[i]] - max) / temperature);
            sum += weights[i];
        }
        int nucleus = order.length;
        if (settings.topP() < 1) {
            double cumulative = 0;
            for (int i = 0; i < order.length; i++) {
                cumulative += weights[i] / sum;
                if (cumulative >= settings.topP()) {
                    nucleus = i + 1;
                    break;
                }
            }
        }
        double total = 0;
        for (int i = 0; i < nucleus; i++) {
            total += weights[i];
        }
        double u = random.nextDouble() * total;
        int pick = nucleus - 1;
        for (int i = 0; i < nucleus; i++) {
            u -= weights[i];
            if (u <= 0) {
                pick = i;
                break;
            }
        }
        return new Choice(order[pick], Math.log(weights[pick] / total));
    }

    /**
     * The ids sampling may draw: the k best (ranked), all ids ranked (for a nucleus), or all ids in id order.
     */
    private static int[] candidates(float[] logits, int topK, boolean ranked) {
        int n = logits.length;
        if (topK > 0 && topK < n) {
            // Min-heap of the k best keys seen so far: O(n log k), no boxing.
            long[] heap = new long[topK];
            for (int i = 0; i < topK; i++) {
                heap[i] = key(logits[i], i);
            }
            Arrays.sort(heap);
            for (int i = topK; i < n; i++) {
                long k = key(logits[i], i);
                if (k > heap[0]) {
                    heap[0] = k;
                    siftDown(heap);
                }
            }
            return ranked(heap);
        }
        if (!ranked) {
            int[] all = new int[n];
            for (int i = 0; i < n; i++) {
                all[i] = i;
            }
            return all;
        }
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            keys[i] = key(logits[i], i);
        }
        return ranked(keys);
    }

    /** Best first: descending logit, then ascending id. */
    private static int[] ranked(long[] keys) {
        Arrays.sort(keys);
        int[] out = new int[keys.length];
        for (int i = 0; i < keys.length; i++) {
            out[i] = Integer.MAX_VALUE - (int) keys[keys.length - 1 - i];
        }
        return out;
    }

    /**
     * A long that orders like (logit, then smaller id first): the float's bits made monotonic in the high word,
     * {@code MAX_VALUE - id} in the low word.
     */
    private static long key(float logit, int id) {
        int bits = Float.floatToIntBits(logit == 0f ? 0f : logit); // -0 ranks as 0
        int monotonic = bits >= 0 ? bits : bits ^ Integer.MAX_VALUE;
        return ((long) monotonic << 32) | (Integer.MAX_VALUE - id);
    }

    private static void siftDown(long[] heap) {
        int i = 0;
        int n = heap.length;
        while (true) {
            int left = 2 * i + 1;
            if (left >= n) {
                return;
            }
            int smallest = left + 1 < n && heap[left + 1] < heap[left] ? left + 1 : left;
            if (heap[i] <= heap[smallest]) {
                return;
            }
            long t = heap[i];
            heap[i] = heap[smallest];
            heap[smallest] = t;
            i = smallest;
        }
    }

    private static double logSumExp(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        return max + Math.log(sum);
    }
}
