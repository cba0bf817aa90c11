package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.io.SafetensorsFile;
import ai.engram.io.ShardedTensorSource;
import ai.engram.io.TemporaryDirectory;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Checkpoints written a block at a time: sharded with an index above the shard size (and back to one file),
 * reloading exactly; random model directories drawn tensor by tensor without the model being allocated.
 */
public class StreamedCheckpointTest {

    private static final long[] IDS = {3, 17, 99, 4, 250, 7, 7, 31};

    private static float[] logits(EngramLM lm, NDManager manager) {
        NDArray ids = manager.create(IDS, new Shape(1, IDS.length));
        return lm.forward(new ParameterStore(manager, false), new NDList(ids), false).singletonOrThrow()
                .toFloatArray();
    }

    private static List<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    public void shardedSavesReloadExactlyAndReplaceEachOther() throws IOException {
        Path dir = Files.createTempDirectory("engram-shards");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = new EngramLM(EngramModelConfig.named("tiny-engram"), null);
            lm.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            float[] expected = logits(lm, manager);

            ModelDirectory.save(lm, dir, DataType.FLOAT32, 256 << 10);
            List<String> sharded = files(dir);
            Assert.assertTrue(sharded.contains("model.safetensors.index.json"), sharded.toString());
            Assert.assertFalse(sharded.contains("model.safetensors"), sharded.toString());
            long shards = sharded.stream().filter(f -> f.matches("model-\\d{5}-of-\\d{5}\\.safetensors")).count();
            Assert.assertTrue(shards > 2, "several shards: " + sharded);
            for (String f : sharded) {
                if (f.endsWith(".safetensors")) {
                    try (SafetensorsFile file = SafetensorsFile.open(dir.resolve(f))) {
                        // A shard holds at most 256 KB unless one tensor alone is larger.
                        Assert.assertTrue(file.names().size() == 1 || Files.size(dir.resolve(f)) < (256 << 10) + 65536,
                                f + " is " + Files.size(dir.resolve(f)) + " bytes");
                    }
                }
            }
            Assert.assertEquals(logits(ModelDirectory.load(dir, manager, DataType.FLOAT32, false), manager), expected);

            ModelDirectory.save(lm, dir, DataType.FLOAT32); // fits one file: the shards and index go
            Assert.assertEquals(files(dir), List.of("config.json", "model.safetensors"));
            Assert.assertEquals(logits(ModelDirectory.load(dir, manager, DataType.FLOAT32, false), manager), expected);

            ModelDirectory.save(lm, dir, DataType.FLOAT32, 1 << 20); // and back: the single file goes
            Assert.assertFalse(files(dir).contains("model.safetensors"), files(dir).toString());
            Assert.assertEquals(logits(ModelDirectory.load(dir, manager, DataType.FLOAT32, false), manager), expected);
        } finally {
            TemporaryDirectory.deleteTree(dir);
        }
    }

    @Test
    public void randomDirectoriesAreDrawnTensorByTensorAndLoad() throws IOException {
        Path a = Files.createTempDirectory("engram-random-a");
        Path b = Files.createTempDirectory("engram-random-b");
        Path c = Files.createTempDirectory("engram-random-c");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramModelConfig config = EngramModelConfig.named("engram-tiny");
            ModelDirectory.writeRandom(config, a, DataType.FLOAT16, 5, 1 << 20);
            ModelDirectory.writeRandom(config, b, DataType.FLOAT16, 5, 1 << 20);
            ModelDirectory.writeRandom(config, c, DataType.FLOAT16, 6, 1 << 20);
            Assert.assertTrue(Files.isRegularFile(a.resolve("tokenizer.json")), "the config's tokenizer is copied in");
            Assert.assertTrue(Files.isRegularFile(a.resolve("model.safetensors.index.json")), files(a).toString());

            EngramLM lm = ModelDirectory.load(a, manager, DataType.FLOAT32, false);
            float[] first = logits(lm, manager);
            for (float v : first) {
                Assert.assertTrue(Float.isFinite(v), "finite logits");
            }
            // The same seed draws the same model: the same files, byte for byte. (Not the same logits: on a GPU,
            // libtorch's fuser compiles a scripted function after its first calls, and fused kernels round
            // differently in the last bit, so a second model's forward may differ from the first's by an ulp.)
            Assert.assertEquals(files(b), files(a));
            for (String f : files(a)) {
                Assert.assertEquals(Files.mismatch(a.resolve(f), b.resolve(f)), -1L, f + " differs");
            }
            Assert.assertNotEquals(logits(ModelDirectory.load(c, manager, DataType.FLOAT32, false), manager), first,
                    "another seed draws another");

            try (ShardedTensorSource weights = ShardedTensorSource.open(a)) {
                // Every tensor of an initialised model, each drawn as its initializer draws it.
                EngramLM reference = new EngramLM(config, lm.getHasher().getVocabulary());
                reference.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
                int expected = 0;
                for (var e : ParameterNames.of(reference).entrySet()) {
                    expected += ai.engram.io.CheckpointNames.isStackedExperts(e.getKey())
                            ? (int) e.getValue().getArray().getShape().get(0) : 1;
                }
                Assert.assertEquals(weights.names().size(), expected);
                NDArray norm = weights.load("model.layers.0.input_layernorm.weight", manager, DataType.FLOAT32);
                Assert.assertEquals(norm.toFloatArray(), manager.ones(norm.getShape()).toFloatArray(), "norms start at 1");
                NDArray table = weights.load("model.layers.1.engram.embed.weight", manager, DataType.FLOAT32);
                double std = Math.sqrt(table.square().mean().getFloat());
                Assert.assertEquals(std, 1.0, 0.02, "Engram rows are N(0, 1), as nn.Embedding draws them");
            }
        } finally {
            TemporaryDirectory.deleteTree(a);
            TemporaryDirectory.deleteTree(b);
            TemporaryDirectory.deleteTree(c);
        }
    }
}
