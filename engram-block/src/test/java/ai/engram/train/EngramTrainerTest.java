package ai.engram.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.engram.data.PublicTexts;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ParameterNames;
import ai.engram.testing.GarbageCollection;
import ai.engram.data.NpmPackageFile;

import org.testng.Assert;
import org.testng.annotations.BeforeClass;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/** Training on real text: a tiny model overfits Moby-Dick's first chapter, and resuming is exact. */
public class EngramTrainerTest {

    private long[] tokens;
    private int vocab;

    @BeforeClass
    public void tokenize() throws IOException {
        String text = Files.readString(PublicTexts.MOBY_DICK_CHAPTER_1.resolve());
        long[] raw;
        try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.builder()
                .optTokenizerPath(NpmPackageFile.DEEPSEEK_V3_TOKENIZER.resolve())
                .optAddSpecialTokens(false).optTruncation(false).build()) {
            raw = tokenizer.encode(text).getIds();
        }
        // A compact vocabulary of the ids this text uses keeps the tiny model tiny.
        Map<Long, Integer> local = new TreeMap<>();
        for (long id : raw) {
            local.putIfAbsent(id, 0);
        }
        int next = 0;
        for (Map.Entry<Long, Integer> e : local.entrySet()) {
            e.setValue(next++);
        }
        vocab = next;
        tokens = new long[raw.length];
        for (int i = 0; i < raw.length; i++) {
            tokens[i] = local.get(raw[i]);
        }
    }

    private EngramLM model(NDManager manager, String name) {
        EngramModelConfig config = EngramModelConfig.named(name).with("{\"vocab_size\": " + vocab + "}");
        EngramLM lm = new EngramLM(config, null);
        manager.getEngine().setRandomSeed(1234);
        lm.initialize(manager, DataType.FLOAT32, new Shape(4, 32));
        return lm;
    }

    @Test
    public void tinyModelOverfitsRealText() {
        TokenWindows data = new TokenWindows(tokens, 0);
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = model(manager, "tiny-engram");
            try (EngramTrainer trainer = new EngramTrainer(lm, TrainingSettings.builder().setBatchSize(8).setSeqLen(64)
                    .setLearningRate(3e-3f).optWarmupSteps(10).optWeightDecay(0f).build(), manager.getDevice())) {
                double initial = trainer.evaluate(data, 8);
                long start = System.nanoTime();
                int steps = 200;
                EngramTrainer.StepResult last = null;
                for (int i = 0; i < steps; i++) {
                    last = trainer.trainStep(data);
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                double finalLoss = trainer.evaluate(data, 8);
                System.out.printf("tiny-engram on %d tokens (vocab %d): loss %.3f -> %.3f in %d steps, "
                        + "%.2f steps/s, %.0f tokens/s, last grad norm %.3f%n", tokens.length, vocab, initial,
                        finalLoss, steps, steps / seconds, steps * 8 * 64 / seconds, last.gradNorm());
                Assert.assertTrue(initial > Math.log(vocab) - 1, "starts near chance: " + initial);
                Assert.assertTrue(finalLoss < 1.5, "memorises the chapter: loss " + finalLoss);
            }
        }
    }

    @Test
    public void resumedTrainingEqualsUninterruptedTraining() throws IOException {
        TokenWindows data = new TokenWindows(tokens, 7);
        TrainingSettings settings = TrainingSettings.builder().setBatchSize(4).setSeqLen(32).setLearningRate(2e-3f)
                .optWarmupSteps(2).optClipNorm(0.5f).optBiasUpdateSpeed(0.01f).optSeed(7).build();
        Path checkpoint = Files.createTempFile("engram-checkpoint", ".safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM straight = model(manager, "tiny-engram");
            try (EngramTrainer trainer = new EngramTrainer(straight, settings, manager.getDevice())) {
                for (int i = 0; i < 3; i++) {
                    trainer.trainStep(data);
                }
                trainer.saveCheckpoint(checkpoint);
                for (int i = 0; i < 3; i++) {
                    trainer.trainStep(data);
                }
            }
            EngramLM resumed = model(manager, "tiny-engram");
            try (EngramTrainer trainer = new EngramTrainer(resumed, settings, manager.getDevice())) {
                trainer.loadCheckpoint(checkpoint);
                // Free now whatever loading left unreachable: state that still aliased it would corrupt the heap
                // in the next steps (issue 10; before the fix this crashed the JVM in every run).
                GarbageCollection.collectAndClean();
                Assert.assertEquals(trainer.getStep(), 3);
                for (int i = 0; i < 3; i++) {
                    trainer.trainStep(data);
                }
            }
            Map<String, Parameter> a = ParameterNames.of(straight);
            Map<String, Parameter> b = ParameterNames.of(resumed);
            Assert.assertEquals(b.keySet(), a.keySet());
            for (String name : a.keySet()) {
                float[] x = a.get(name).getArray().toFloatArray();
                float[] y = b.get(name).getArray().toFloatArray();
                Assert.assertEquals(y, x, name + " differs after resuming");
            }
        } finally {
            Files.deleteIfExists(checkpoint);
        }
    }
}
