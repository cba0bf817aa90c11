package ai.engram.stress;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.model.EngramGenerator;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.GenerationSettings;
import ai.engram.model.ModelDirectory;
import ai.engram.offload.EngramPrefetcher;
import ai.engram.offload.EngramTables;
import ai.engram.offload.OffloadSettings;
import ai.engram.offload.TablePlacement;
import ai.engram.testing.GarbageCollection;
import ai.engram.train.EngramTrainer;
import ai.engram.train.TokenWindows;
import ai.engram.train.TrainingSettings;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The long profile for issue 10 ({@code mvn verify -Pstress}, about ten minutes, {@code -Dengram.stress.seconds}):
 * training with checkpoint round trips, greedy generation from device and host tables, prefetching, and closing and
 * reopening tables, over and over with forced garbage collections in between — every place where memory owned by
 * Java could be freed under a tensor. Every round must reproduce the first round's numbers exactly.
 */
@Test(groups = "stress")
public class NativeMemoryStressTest {

    private static final Logger logger = LoggerFactory.getLogger(NativeMemoryStressTest.class);

    private static long seconds() {
        return Long.getLong("engram.stress.seconds", 540);
    }

    private static long[] corpus(int vocab, int length) {
        // A repeating random phrase: learnable, so training moves the weights far from their start.
        long[] phrase = new SplittableRandom(11).longs(97, 3, vocab).toArray();
        long[] out = new long[length];
        for (int i = 0; i < length; i++) {
            out[i] = phrase[i % phrase.length];
        }
        return out;
    }

    @Test
    public void trainingAndGenerationSurviveCollectionsUnchanged() throws IOException {
        EngramModelConfig config = EngramModelConfig.named("tiny-engram");
        long[] tokens = corpus(config.getVocabSize(), 20_000);
        TrainingSettings settings = TrainingSettings.builder().setBatchSize(4).setSeqLen(32).setLearningRate(2e-3f)
                .optWarmupSteps(2).optClipNorm(0.5f).optBiasUpdateSpeed(0.01f).optSeed(7).build();
        long[] prompt = Arrays.copyOf(tokens, 12);
        GenerationSettings greedy = GenerationSettings.greedy(24, -1);
        Path dir = Files.createTempDirectory("engram-stress");
        Path checkpoint = dir.resolve("checkpoint.safetensors");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds());
        float[] firstLosses = null;
        long[] firstText = null;
        int round = 0;
        try {
            do {
                float[] losses = new float[6];
                long[] text;
                try (NDManager manager = NDManager.newBaseManager()) {
                    manager.getEngine().setRandomSeed(1234);
                    EngramLM lm = new EngramLM(config, null);
                    lm.initialize(manager, DataType.FLOAT32, new Shape(4, 32));
                    TokenWindows data = new TokenWindows(tokens, 7);
                    try (EngramTrainer trainer = new EngramTrainer(lm, settings, manager.getDevice())) {
                        for (int i = 0; i < 3; i++) {
                            losses[i] = trainer.trainStep(data).loss();
                        }
                        trainer.saveCheckpoint(checkpoint);
                    }
                    GarbageCollection.collectAndClean();
                    EngramLM resumed = new EngramLM(config, null);
                    resumed.initialize(manager, DataType.FLOAT32, new Shape(4, 32));
                    try (EngramTrainer trainer = new EngramTrainer(resumed, settings, manager.getDevice())) {
                        trainer.loadCheckpoint(checkpoint);
                        GarbageCollection.collectAndClean();
                        for (int i = 3; i < 6; i++) {
                            losses[i] = trainer.trainStep(data).loss();
                            GarbageCollection.collectAndClean();
                        }
                    }
                    ModelDirectory.save(resumed, dir, DataType.FLOAT32);
                    text = new EngramGenerator(resumed).generate(new ParameterStore(manager, false), prompt, greedy,
                            manager);
                }
                GarbageCollection.collectAndClean();
                long[] fromHost = generateFromHostTables(dir, prompt, greedy);
                Assert.assertEquals(fromHost, text, "round " + round + ": host tables generate what device tables do");
                if (firstLosses == null) {
                    firstLosses = losses;
                    firstText = text;
                } else {
                    Assert.assertEquals(losses, firstLosses, "round " + round + ": training losses changed");
                    Assert.assertEquals(text, firstText, "round " + round + ": generated text changed");
                }
                round++;
            } while (System.nanoTime() < deadline);
            logger.info("{} stress rounds, losses {}, each reproduced exactly", round, Arrays.toString(firstLosses));
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : (Iterable<Path>) files::iterator) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    private static long[] generateFromHostTables(Path dir, long[] prompt, GenerationSettings greedy)
            throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = ModelDirectory.loader(dir).optExternalTables(true).load(manager);
            OffloadSettings d = OffloadSettings.of(TablePlacement.HOST);
            OffloadSettings fp32 = d.toBuilder().optRowFormat(ai.engram.offload.RowFormat.FP32).optGatherThreads(2)
                    .optRefreshEvery(0).build();
            long[] text;
            try (EngramTables tables = EngramTables.create(lm.getHasher(), dir, fp32, manager, DataType.FLOAT32);
                    EngramPrefetcher prefetcher = new EngramPrefetcher(lm.getHasher(), tables.memories())) {
                lm.setEngramMemories(prefetcher.memories());
                // A prefetch left in flight when everything closes: closing must wait for it, not free under it.
                prefetcher.prefetch(prompt, 1, prompt.length);
                text = new EngramGenerator(lm).generate(new ParameterStore(manager, false), prompt, greedy, manager);
            }
            GarbageCollection.collectAndClean();
            return text;
        }
    }
}
