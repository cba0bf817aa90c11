package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;

import org.testng.Assert;
import org.testng.annotations.DataProvider;
import org.testng.annotations.Test;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/** Whole-model behaviour: parameter counts, KV-cached decoding, and no leaked arrays. */
public class EngramLMTest {

    @DataProvider(name = "tinyConfigs")
    public Object[][] tinyConfigs() {
        return new Object[][] {{"tiny-engram"}, {"tiny-moe"}, {"tiny-engram-mha"}};
    }

    static EngramLM build(EngramModelConfig config, NDManager manager, DataType type) {
        EngramLM model = new EngramLM(config, null);
        model.initialize(manager, type, new Shape(2, 8));
        // Non-zero conv weights and routing biases, so every path contributes to the comparison.
        for (Pair<String, Parameter> p : model.getParameters()) {
            NDArray array = p.getValue().getArray();
            if (p.getKey().endsWith("short_conv_weight") || p.getKey().endsWith("e_score_correction_bias")) {
                NDArray random = manager.randomNormal(0, 0.1f, array.getShape(), type);
                array.set(random.toByteBuffer());
            }
        }
        return model;
    }

    static long[] randomIds(int count, int vocab, long seed) {
        return new SplittableRandom(seed).longs(count, 3, vocab).toArray();
    }

    @Test(dataProvider = "tinyConfigs")
    public void counterMatchesAllocatedParameters(String name) {
        EngramModelConfig config = EngramModelConfig.named(name);
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM model = build(config, manager, DataType.FLOAT32);
            long actual = 0;
            for (Pair<String, Parameter> p : model.getParameters()) {
                actual += p.getValue().getArray().size();
            }
            Assert.assertEquals(ParameterCounter.count(config).total(), actual, name);
        }
    }

    @Test(dataProvider = "tinyConfigs")
    public void incrementalDecodingEqualsFullForward(String name) {
        // Everything in float64: the float32 steps (norms, router, RoPE tables) would round differently for other
        // shapes on some kernels (seen on CUDA: 2.5e-8), and this test is about the cache, not about rounding.
        EngramModelConfig config = EngramModelConfig.named(name).with("{\"float32_ops\": false}");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM model = build(config, manager, DataType.FLOAT64);
            int batch = 2;
            int length = 11;
            NDArray ids = manager.create(randomIds(batch * length, config.getVocabSize(), 5), new Shape(batch, length));
            ParameterStore ps = new ParameterStore(manager, false);
            NDArray full = model.forward(ps, new NDList(ids), false).singletonOrThrow();

            try (DecodingState state = model.newDecodingState(manager, batch)) {
                NDList steps = new NDList();
                steps.add(model.decode(ps, ids.get(new NDIndex(":, :4")), state));   // prompt
                for (int t = 4; t < length; t++) {                                   // then one token at a time
                    steps.add(model.decode(ps, ids.get(new NDIndex(":, {}:{}", t, t + 1)), state));
                }
                NDArray incremental = ai.djl.ndarray.NDArrays.concat(steps, 1);
                double error = incremental.sub(full).abs().max().getDouble();
                Assert.assertTrue(error < 1e-9, name + ": incremental logits differ from full forward by " + error);
            }
        }
    }

    @Test(dataProvider = "tinyConfigs")
    public void paddedRowsDecodeAsIfAlone(String name) {
        // Prompts of 9, 2 and 5 tokens prefilled together (left-padded to 9), then 4 steps together: every row's
        // logits must be its logits decoded alone. float64, so only the pads could make a difference.
        EngramModelConfig config = EngramModelConfig.named(name).with("{\"float32_ops\": false}");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM model = build(config, manager, DataType.FLOAT64);
            ParameterStore ps = new ParameterStore(manager, false);
            int[] lengths = {9, 2, 5};
            java.util.List<long[]> prompts = new java.util.ArrayList<>();
            for (int r = 0; r < lengths.length; r++) {
                prompts.add(randomIds(lengths[r], config.getVocabSize(), 40 + r));
            }
            long[][] continuations = new long[lengths.length][];
            for (int r = 0; r < lengths.length; r++) {
                continuations[r] = randomIds(4, config.getVocabSize(), 50 + r);
            }
            double worst = 0;
            try (DecodingState batched = model.newDecodingState(manager, lengths.length)) {
                NDArray first = model.prefill(ps, prompts, manager, batched);
                NDList steps = new NDList();
                for (int t = 0; t < 4; t++) {
                    long[] column = new long[lengths.length];
                    for (int r = 0; r < lengths.length; r++) {
                        column[r] = continuations[r][t];
                    }
                    steps.add(model.decode(ps, manager.create(column, new Shape(lengths.length, 1)), batched));
                }
                NDArray rest = ai.djl.ndarray.NDArrays.concat(steps, 1);
                for (int r = 0; r < lengths.length; r++) {
                    try (DecodingState alone = model.newDecodingState(manager, 1)) {
                        NDArray own = model.decode(ps, manager.create(prompts.get(r), new Shape(1, lengths[r])), alone);
                        NDArray ownRest = model.decode(ps, manager.create(continuations[r], new Shape(1, 4)), alone);
                        NDArray mine = first.get(new NDIndex("{}:{}, {}:", r, r + 1, 9 - lengths[r]));
                        worst = Math.max(worst, mine.sub(own).abs().max().getDouble());
                        worst = Math.max(worst, rest.get(new NDIndex("{}:{}", r, r + 1)).sub(ownRest).abs().max()
                                .getDouble());
                    }
                }
            }
            Assert.assertTrue(worst < 1e-10, name + ": padded rows differ from rows alone by " + worst);
        }
    }

    @Test(dataProvider = "tinyConfigs")
    public void lastPositionPrefillIsTheFullPrefillsLastPosition(String name) {
        // What a generator reads of a prefill: the last position's logits. Computed alone, they must be the full
        // prefill's (the same cache behind them, so the next step agrees too). float64, padded prompts.
        EngramModelConfig config = EngramModelConfig.named(name).with("{\"float32_ops\": false}");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM model = build(config, manager, DataType.FLOAT64);
            ParameterStore ps = new ParameterStore(manager, false);
            java.util.List<long[]> prompts = java.util.List.of(randomIds(7, config.getVocabSize(), 60),
                    randomIds(3, config.getVocabSize(), 61));
            NDArray next = manager.create(new long[] {5, 9}, new Shape(2, 1));
            try (DecodingState full = model.newDecodingState(manager, 2);
                    DecodingState last = model.newDecodingState(manager, 2)) {
                NDArray all = model.prefill(ps, prompts, manager, full);
                NDArray lastOnly = model.prefill(ps, prompts, manager, last, true);
                Assert.assertEquals(lastOnly.getShape(), new Shape(2, 1, config.getVocabSize()));
                Assert.assertTrue(all.get(new NDIndex(":, -1:, :")).sub(lastOnly).abs().max().getDouble() < 1e-12,
                        name + ": last-position logits differ");
                Assert.assertTrue(model.decode(ps, next, full).sub(model.decode(ps, next, last)).abs().max()
                        .getDouble() < 1e-12, name + ": the step after differs");
            }
        }
    }

    @Test
    public void batchedGenerationGivesEachPromptItsOwnText() {
        EngramModelConfig config = EngramModelConfig.named("tiny-engram");
        try (NDManager manager = NDManager.newBaseManager()) {
            // A seeded model: a batch rounds differently from a row alone, so on a random model a sampled token
            // whose draw falls within rounding of its neighbour's share (or a router's near-tie) may differ. An
            // unseeded model did so once (CI, row 2's sixth sampled token); 40 seeds in a row here had none.
            manager.getEngine().setRandomSeed(7);
            EngramLM model = build(config, manager, DataType.FLOAT32);
            EngramGenerator generator = new EngramGenerator(model);
            ParameterStore ps = new ParameterStore(manager, false);
            java.util.List<long[]> prompts = java.util.List.of(randomIds(6, config.getVocabSize(), 1),
                    randomIds(1, config.getVocabSize(), 2), randomIds(11, config.getVocabSize(), 3));
            for (GenerationSettings settings : new GenerationSettings[] {GenerationSettings.greedy(12, -1),
                new GenerationSettings(12, 0.9, 40, 0.95, true, 77, -1)}) {
                java.util.List<long[]> together = generator.generate(ps, prompts, settings, manager);
                for (int r = 0; r < prompts.size(); r++) {
                    long[] alone = generator.generate(ps, prompts.get(r), settings, manager);
                    if (!settings.doSample()) {
                        assertSameUpToANearTie(model, ps, manager, prompts.get(r), alone, together.get(r),
                                "row " + r + " with " + settings);
                    } else {
                        Assert.assertEquals(together.get(r), alone, "row " + r + " with " + settings);
                    }
                }
            }
            // A row that stops at EOS stops alone; the others go on.
            long[] greedyFirst = generator.generate(ps, prompts.get(0), GenerationSettings.greedy(12, -1), manager);
            // EOS := the first token after the first that row 0 has not produced before (a random model repeats).
            int end = 1;
            while (end < greedyFirst.length - 1 && seenBefore(greedyFirst, end)) {
                end++;
            }
            Assert.assertTrue(end < greedyFirst.length - 1, "row 0 produces some new token before its last");
            GenerationSettings stopAtThird = GenerationSettings.greedy(12, greedyFirst[end]);
            java.util.List<long[]> stopped = generator.generate(ps, prompts, stopAtThird, manager);
            Assert.assertEquals(stopped.get(0).length, end + 1);
            for (int r = 0; r < prompts.size(); r++) {
                Assert.assertEquals(stopped.get(r), generator.generate(ps, prompts.get(r), stopAtThird, manager));
            }
        }
    }

    /**
     * Greedy tokens of a row decoded alone and within a batch are the same, or first differ where the row's own
     * logits hold a near-tie: the batch's kernels round differently (batched products, the pads' mask), so two
     * tokens whose logits are within rounding of each other may swap. With an unseeded model such a tie came up once
     * in a few dozen full-suite runs (CI, row 2, the 12th token); 60 seeded models here had none. The test's model is
     * seeded now, but another device (the GPU) rounds differently again.
     * A real difference of the rows' computations moves logits by far more than the tolerance.
     */
    private static void assertSameUpToANearTie(EngramLM model, ParameterStore ps, NDManager manager, long[] prompt,
            long[] alone, long[] together, String what) {
        Assert.assertEquals(together.length, alone.length, what);
        int k = 0;
        while (k < alone.length && alone[k] == together[k]) {
            k++;
        }
        if (k == alone.length) {
            return;
        }
        float gap;
        try (NDManager scope = manager.newSubManager();
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine());
                DecodingState state = model.newDecodingState(scope, 1)) {
            NDArray logits = model.prefill(ps, java.util.List.of(prompt), scope, state);
            for (int s = 0; s < k; s++) {
                logits = model.decode(ps, scope.create(new long[] {alone[s]}, new Shape(1, 1)), state);
            }
            float[] last = logits.get(new NDIndex("0, -1, :")).toFloatArray();
            gap = Math.abs(last[(int) alone[k]] - last[(int) together[k]]);
        }
        Assert.assertTrue(gap < 1e-4, what + ": token " + k + " is " + together[k] + " in the batch and " + alone[k]
                + " alone, whose logits differ by " + gap + " (not a near-tie)");
    }

    private static boolean seenBefore(long[] tokens, int i) {
        for (int j = 0; j < i; j++) {
            if (tokens[j] == tokens[i]) {
                return true;
            }
        }
        return false;
    }

    @Test
    public void gatesCanBeInspectedAndEngramSwitchedOff() {
        EngramModelConfig config = EngramModelConfig.named("tiny-engram");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM model = build(config, manager, DataType.FLOAT32);
            ParameterStore ps = new ParameterStore(manager, false);
            NDArray ids = manager.create(randomIds(2 * 9, config.getVocabSize(), 4), new Shape(2, 9));
            NDList gates = model.gateValues(ps, ids);
            Assert.assertEquals(gates.size(), config.getEngram().getLayerIds().length);
            for (NDArray alpha : gates) {
                Assert.assertEquals(alpha.getShape(), new Shape(2, 9, config.getHcMult()));
                Assert.assertTrue(alpha.gt(0).all().getBoolean() && alpha.lt(1).all().getBoolean(), "sigmoid gates");
            }
            float[] on = model.forward(ps, new NDList(ids), false).singletonOrThrow().toFloatArray();
            model.setEngramEnabled(false);
            float[] off = model.forward(ps, new NDList(ids), false).singletonOrThrow().toFloatArray();
            model.setEngramEnabled(true);
            float[] again = model.forward(ps, new NDList(ids), false).singletonOrThrow().toFloatArray();
            Assert.assertNotEquals(off, on, "switching Engram off changes the logits");
            Assert.assertEquals(again, on, "switching it back on restores them");
        }
    }

    @Test
    public void thousandForwardsLeakNothing() {
        EngramModelConfig config = EngramModelConfig.named("tiny-engram");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM model = build(config, manager, DataType.FLOAT32);
            ParameterStore ps = new ParameterStore(manager, false);
            long[] ids = randomIds(2 * 8, config.getVocabSize(), 9);
            // The first forward makes the model's one-time arrays (unnamed views of the weights that scripted
            // functions take as arguments, kept with the model); after it nothing may accumulate.
            try (NDManager scope = manager.newSubManager()) {
                model.forward(ps, new NDList(scope.create(ids, new Shape(2, 8))), false);
            }
            int baseline = manager.getManagedArrays().size();
            int baselineChildren = countAll(manager);
            for (int i = 0; i < 1000; i++) {
                try (NDManager scope = manager.newSubManager()) {
                    NDArray input = scope.create(ids, new Shape(2, 8));
                    NDArray logits = model.forward(ps, new NDList(input), false).singletonOrThrow();
                    Assert.assertEquals(logits.getShape(), new Shape(2, 8, config.getVocabSize()));
                }
            }
            Assert.assertEquals(manager.getManagedArrays().size(), baseline, "arrays left in the model's manager");
            Assert.assertEquals(countAll(manager), baselineChildren, "arrays or managers left behind");
        }
    }

    @DataProvider
    public Object[][] attentionKinds() {
        return new Object[][] {{"tiny-engram"}, {"tiny-engram-mha"}};
    }

    /**
     * What a decode step computes from the cached history (the MLA latent's norm and key/value expansion, the
     * repeated keys, the short convolution's window) belongs to the step, not to the cache: kept until the
     * generation ends, it grew by ~1 GB per step at 27B scale and batch 32 and ran an 80 GB GPU out of memory.
     */
    @Test(dataProvider = "attentionKinds")
    public void decodeStepsLeaveOnlyTheCacheBehind(String name) {
        EngramModelConfig config = EngramModelConfig.named(name);
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM model = build(config, manager, DataType.FLOAT32);
            ParameterStore ps = new ParameterStore(manager, false);
            try (NDManager generation = manager.newSubManager()) {
                DecodingState state = model.newDecodingState(generation, 2);
                List<long[]> prompts = List.of(randomIds(5, config.getVocabSize(), 3),
                        randomIds(7, config.getVocabSize(), 4));
                try (NDManager step = generation.newSubManager()) {
                    model.prefill(ps, prompts, step, state);
                }
                int[] held = new int[12];
                for (int i = 0; i < held.length; i++) {
                    try (NDManager step = generation.newSubManager()) {
                        model.decode(ps, step.create(new long[] {5, 6}, new Shape(2, 1)), state);
                    }
                    held[i] = countAll(generation);
                }
                Assert.assertEquals(held[held.length - 1], held[1],
                        "arrays held by the generation after each decode step: " + Arrays.toString(held));
                state.close();
            }
        }
    }

    /** Arrays owned by a manager and all of its sub-managers. */
    private static int countAll(NDManager manager) {
        return manager.getManagedArrays().size();
    }
}
