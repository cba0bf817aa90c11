package ai.engram.model;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.block.ScriptedFunction;
import ai.engram.tokenizer.CompressedVocabulary;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.List;

/** Generation never emits ids the tokenizer cannot represent; its settings reach the block intact. */
public class EngramGeneratorTest {

    @Test
    public void paddingRowsOfTheVocabularyAreNeverGenerated() {
        EngramModelConfig config = EngramModelConfig.named("tiny-engram");      // 512 embedding rows
        int tokenizerIds = 300;                                                 // rows 300..511 are padding
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = new EngramLM(config, CompressedVocabulary.identity(tokenizerIds));
            lm.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            EngramGenerator generator = new EngramGenerator(lm);
            // Near-uniform sampling over all 512 rows would pick a padding row (41 % of them) almost every step.
            GenerationSettings hot = new GenerationSettings(120, 50.0, 0, 1.0, true, 3, -1);
            long[] out = generator.generate(new ParameterStore(manager, false), new long[] {0, 5, 7}, hot, manager);
            Assert.assertEquals(out.length, 120);
            for (long id : out) {
                Assert.assertTrue(id >= 0 && id < tokenizerIds, "generated padding id " + id);
            }
        }
    }

    @Test
    public void stepTimingsSplitEachDecodeStepOfTheGenerationsTheyAreGiven() {
        EngramModelConfig config = EngramModelConfig.named("tiny-engram");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = new EngramLM(config, CompressedVocabulary.identity(300));
            lm.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            EngramGenerator generator = new EngramGenerator(lm);
            ParameterStore ps = new ParameterStore(manager, false);
            List<GenerationTask> tasks = List.of(
                    GenerationTask.of(new long[] {0, 5, 7}, GenerationSettings.greedy(9, -1)),
                    GenerationTask.of(new long[] {4}, GenerationSettings.greedy(6, -1)));
            StepTimings timings = new StepTimings();
            generator.setStepTimings(timings);
            long start = System.nanoTime();
            List<Generation> timed = generator.generateAll(ps, tasks, manager);
            double elapsedMs = (System.nanoTime() - start) / 1e6;
            StepTimings.Snapshot split = timings.snapshot();
            Assert.assertEquals(split.steps(), 8, "the 8 decode steps after the prefill (the longer row's 9 tokens)");
            Assert.assertTrue(split.forward() > 0 && split.logitsCopy() >= 0 && split.sampling() > 0
                    && split.rest() >= 0, split.describe());
            Assert.assertTrue(split.steps() * (split.forward() + split.logitsCopy() + split.sampling() + split.rest())
                    <= elapsedMs, split.describe() + " within " + elapsedMs + " ms");

            generator.setStepTimings(null); // no longer timed, and the same tokens
            List<Generation> untimed = generator.generateAll(ps, tasks, manager);
            Assert.assertEquals(timings.snapshot().steps(), 8);
            for (int r = 0; r < tasks.size(); r++) {
                Assert.assertEquals(untimed.get(r).tokens(), timed.get(r).tokens(), "row " + r);
            }
            timings.reset();
            Assert.assertEquals(timings.snapshot(), new StepTimings.Snapshot(0, 0, 0, 0, 0));
        }
    }

    @Test
    public void greedyTokensChosenOnTheDeviceAreTheHostsChoices() {
        EngramModelConfig config = EngramModelConfig.named("tiny-engram");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = new EngramLM(config, CompressedVocabulary.identity(300)); // rows 300..511 never emitted
            lm.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            EngramGenerator generator = new EngramGenerator(lm);
            ParameterStore ps = new ParameterStore(manager, false);
            List<GenerationTask> tasks = List.of(
                    GenerationTask.of(new long[] {0, 5, 7}, GenerationSettings.greedy(12, -1)),
                    GenerationTask.of(new long[] {4}, GenerationSettings.greedy(7, -1)),
                    GenerationTask.of(new long[] {9, 9, 9, 9}, GenerationSettings.greedy(12, 3)));
            // Both by DJL operations: on a GPU libtorch's graph executor runs a scripted function's first calls
            // unfused and later ones fused, so two generations' float32 logits may differ in their last bits; this
            // compares the two choices from the same logits.
            generator.setGreedyOnDevice(true);
            List<Generation> onDevice = ScriptedFunction.byOperations(() -> generator.generateAll(ps, tasks, manager));
            generator.setGreedyOnDevice(false);
            List<Generation> onHost = ScriptedFunction.byOperations(() -> generator.generateAll(ps, tasks, manager));
            for (int r = 0; r < tasks.size(); r++) {
                Assert.assertEquals(onDevice.get(r).tokens(), onHost.get(r).tokens(), "row " + r);
                double[] device = onDevice.get(r).logProbabilities();
                double[] host = onHost.get(r).logProbabilities();
                Assert.assertEquals(device.length, host.length);
                for (int i = 0; i < host.length; i++) {
                    Assert.assertTrue(host[i] < 0, "a log-probability below 0 at row " + r + " token " + i);
                    Assert.assertEquals(device[i], host[i], 1e-9, "row " + r + " token " + i);
                }
                for (long id : onDevice.get(r).tokens()) {
                    Assert.assertTrue(id >= 0 && id < 300, "emitted padding id " + id);
                }
            }
        }
    }

    @Test
    public void settingsTravelToTheBlockWithoutLosingBits() {
        try (NDManager manager = NDManager.newBaseManager()) {
            // A seed above 2^53 would lose its low bits in a float64.
            GenerationSettings settings = new GenerationSettings(17, 0.7, 40, 0.9, true, (1L << 60) + 1, 2);
            NDList encoded = settings.encode(manager);
            Assert.assertEquals(GenerationSettings.decode(encoded.get(0), encoded.get(1)), settings);
            Assert.expectThrows(IllegalArgumentException.class,
                    () -> GenerationSettings.decode(encoded.get(1), encoded.get(0)));
        }
    }
}
