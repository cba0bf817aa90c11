package ai.engram.model;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

/** The sampler draws from the distribution the settings describe, without sorting what it need not sort. */
public class TokenSamplerTest {

    private static float[] logits(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian() * 3;
        }
        return out;
    }

    private static GenerationSettings sampling(double temperature, int topK, double topP) {
        return new GenerationSettings(1, temperature, topK, topP, true, 0, -1);
    }

    @Test
    public void topKDrawsOnlyTheKBestAndInProportion() {
        float[] logits = logits(129_280, 1);
        int k = 50;
        int[] best = java.util.stream.IntStream.range(0, logits.length).boxed()
                .sorted((a, b) -> Float.compare(logits[b], logits[a])).limit(k).mapToInt(Integer::intValue).toArray();
        double[] expected = new double[logits.length];
        double sum = 0;
        for (int id : best) {
            expected[id] = Math.exp(logits[id] - logits[best[0]]);
            sum += expected[id];
        }
        int draws = 20_000;
        int[] counts = new int[logits.length];
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < draws; i++) {
            TokenSampler.Choice c = TokenSampler.choose(logits.clone(), sampling(1.0, k, 1.0), null, random);
            counts[(int) c.token()]++;
            Assert.assertEquals(c.logProbability(), Math.log(expected[(int) c.token()] / sum), 1e-9);
        }
        double chiSquare = 0;
        for (int id : best) {
            double e = draws * expected[id] / sum;
            chiSquare += (counts[id] - e) * (counts[id] - e) / Math.max(e, 1e-9);
        }
        int outside = draws - Arrays.stream(best).map(id -> counts[id]).sum();
        Assert.assertEquals(outside, 0, "drew outside the top k");
        // 49 degrees of freedom: the 99.9th percentile is about 86.
        Assert.assertTrue(chiSquare < 86, "chi-square " + chiSquare);
    }

    @Test
    public void edgeCasesAgreeWithTheirDefinitions() {
        float[] logits = logits(1_000, 2);
        int argmax = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[argmax]) {
                argmax = i;
            }
        }
        SplittableRandom random = new SplittableRandom(5);
        Assert.assertEquals(TokenSampler.choose(logits.clone(), sampling(1.0, 1, 1.0), null, random).token(), argmax);
        Assert.assertEquals(TokenSampler.choose(logits.clone(), sampling(1.0, 0, 1e-9), null, random).token(), argmax);
        Assert.assertEquals(TokenSampler.choose(logits.clone(), GenerationSettings.greedy(1, -1), null, random).token(),
                argmax);
        // Ties rank by id, so a flat distribution with top_k = 3 draws only ids 0, 1, 2.
        float[] flat = new float[100];
        for (int i = 0; i < 200; i++) {
            Assert.assertTrue(TokenSampler.choose(flat.clone(), sampling(1.0, 3, 1.0), null, random).token() < 3);
        }
        // The same seed draws the same tokens.
        long[] first = new long[50];
        long[] second = new long[50];
        SplittableRandom a = new SplittableRandom(9);
        SplittableRandom b = new SplittableRandom(9);
        for (int i = 0; i < 50; i++) {
            first[i] = TokenSampler.choose(logits.clone(), sampling(0.8, 0, 1.0), null, a).token();
            second[i] = TokenSampler.choose(logits.clone(), sampling(0.8, 0, 1.0), null, b).token();
        }
        Assert.assertEquals(first, second);
    }

    @Test
    public void repetitionPenaltyFollowsTransformers() {
        float[] logits = {2f, -2f, 1.5f};
        boolean[] seen = {true, true, false};
        GenerationSettings penalised = new GenerationSettings(1, 1.0, 0, 1.0, false, 0, -1, 2.0);
        // 2 / 2 = 1 < 1.5: the unseen id wins; -2 * 2 = -4.
        float[] changed = logits.clone();
        Assert.assertEquals(TokenSampler.choose(changed, penalised, seen, new SplittableRandom(1)).token(), 2);
        Assert.assertEquals(changed, new float[] {1f, -4f, 1.5f});
    }

    @Test
    public void topKOverTheVocabularyIsCheaperThanSortingIt() {
        float[] logits = logits(129_280, 4);
        SplittableRandom random = new SplittableRandom(1);
        GenerationSettings topK = sampling(1.0, 50, 1.0);
        GenerationSettings nucleus = sampling(1.0, 0, 0.9); // needs the full ranking
        for (int i = 0; i < 20; i++) { // warm-up
            TokenSampler.choose(logits.clone(), topK, null, random);
            TokenSampler.choose(logits.clone(), nucleus, null, random);
        }
        long heap = Long.MAX_VALUE;
        long sort = Long.MAX_VALUE;
        for (int i = 0; i < 15; i++) {
            long t0 = System.nanoTime();
            TokenSampler.choose(logits.clone(), topK, null, random);
            long t1 = System.nanoTime();
            TokenSampler.choose(logits.clone(), nucleus, null, random);
            long t2 = System.nanoTime();
            heap = Math.min(heap, t1 - t0);
            sort = Math.min(sort, t2 - t1);
        }
        Assert.assertTrue(heap * 2 < sort, "top-50 " + heap / 1e6 + " ms vs full ranking " + sort / 1e6 + " ms");
    }
}
