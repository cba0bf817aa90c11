package ai.engram.model;

import org.testng.Assert;
import org.testng.annotations.Test;

/** The shipped architectures reproduce the paper's parameter figures; the allocation reproduces Engram-27B. */
public class ParameterCounterTest {

    private static void assertWithin(long actual, double expected, String what) {
        Assert.assertTrue(Math.abs(actual - expected) <= 0.02 * expected,
                what + ": " + actual + " is not within 2 % of " + (long) expected);
    }

    @Test
    public void matchesThePaper() {
        ParameterCounter.Counts engram27 = ParameterCounter.count(EngramModelConfig.named("engram-27b"));
        assertWithin(engram27.total(), 26.7e9, "engram-27b total");
        assertWithin(engram27.activated(), 3.8e9, "engram-27b activated");
        assertWithin(engram27.engram(), 5.7e9, "engram-27b Engram");
        assertWithin(ParameterCounter.count(EngramModelConfig.named("moe-27b")).total(), 26.7e9, "moe-27b total");
        ParameterCounter.Counts engram40 = ParameterCounter.count(EngramModelConfig.named("engram-40b"));
        assertWithin(engram40.total(), 39.5e9, "engram-40b total");
        assertWithin(engram40.engram(), 18.5e9, "engram-40b Engram");
        Assert.assertEquals(ParameterCounter.count(EngramModelConfig.named("moe-27b")).engram(), 0L);
    }

    @Test
    public void allocationMovesIdleExpertsIntoEngram() {
        EngramModelConfig engram27 = EngramModelConfig.named("engram-27b");
        ParameterCounter.Counts moe = ParameterCounter.count(EngramModelConfig.named("moe-27b"));
        long embeddings = moe.breakdown().get("embedding") + moe.breakdown().get("lm_head");
        long total = moe.total() - embeddings;
        long activated = moe.activated() - moe.breakdown().get("lm_head");

        SparsityAllocation allMoe = SparsityAllocation.allocate(engram27, total, activated, 1.0);
        Assert.assertEquals(allMoe.routedExperts(), 72, "rho = 100 % is the MoE-27B baseline");
        Assert.assertEquals(allMoe.engramVocabSize().length, 0);

        // Engram-27B gives 17 of the 66 idle experts to Engram: rho = 49/66 of the idle-expert budget.
        SparsityAllocation split = SparsityAllocation.allocate(engram27, total, activated, 49.0 / 66);
        Assert.assertEquals(split.routedExperts(), 55);
        assertWithin(split.engramVocabSize()[0], 2_262_400, "engram_vocab_size");
        EngramModelConfig applied = split.applyTo(engram27);
        assertWithin(ParameterCounter.count(applied).total(), ParameterCounter.count(engram27).total(),
                "re-allocated total");
        Assert.expectThrows(IllegalArgumentException.class, () -> SparsityAllocation.allocate(engram27, 10, 20, 0.5));
        Assert.expectThrows(IllegalArgumentException.class, () -> SparsityAllocation.allocate(engram27, 20, 10, 0));
    }
}
