package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.io.TemporaryDirectory;
import ai.engram.model.DecodingState;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ModelDirectory;

import org.testng.Assert;
import org.testng.annotations.AfterClass;
import org.testng.annotations.BeforeClass;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** A model served from host or mapped tables computes exactly what it computes with device tables. */
public class OffloadedModelTest {

    private static final int BATCH = 2;
    private static final int LENGTH = 24;

    private NDManager manager;
    private Path dir;
    private long[] ids;
    private float[] reference;

    @BeforeClass
    public void saveModel() throws IOException {
        manager = NDManager.newBaseManager();
        EngramModelConfig config = EngramModelConfig.named("tiny-engram");
        EngramLM lm = new EngramLM(config, null);
        lm.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
        dir = Files.createTempDirectory("engram-offload");
        ModelDirectory.save(lm, dir, DataType.FLOAT32);
        ids = new SplittableRandom(3).longs(BATCH * LENGTH, 3, config.getVocabSize()).toArray();
        EngramLM loaded = ModelDirectory.load(dir, manager, DataType.FLOAT32, false);
        reference = logits(loaded).toFloatArray();
    }

    @AfterClass
    public void close() throws IOException {
        manager.close();
        TemporaryDirectory.deleteTree(dir);
    }

    private NDArray logits(EngramLM lm) {
        NDArray input = manager.create(ids, new Shape(BATCH, LENGTH));
        return lm.forward(new ParameterStore(manager, false), new NDList(input), false).singletonOrThrow();
    }

    private EngramLM external() throws IOException {
        EngramLM lm = ModelDirectory.loader(dir).optExternalTables(true).load(manager);
        Assert.assertNull(lm.getLayers().get(1).getEngram().getEmbedding(), "no table parameter allocated");
        Assert.assertFalse(ai.engram.model.ParameterNames.of(lm).keySet().stream().anyMatch(n -> n.contains("engram.embed")),
                "no table parameter named");
        return lm;
    }

    @Test
    public void hostMappedAndCachedTablesMatchDeviceTables() throws IOException {
        EngramLM lm = external();
        IllegalStateException unattached = Assert.expectThrows(IllegalStateException.class, () -> logits(lm));
        Assert.assertTrue(unattached.getMessage().contains("attach"), unattached.getMessage());

        TableFile.write(ai.engram.io.ShardedTensorSource.open(dir), lm.getHasher().getLayerIds(), RowFormat.FP32,
                dir.resolve(TableFile.FILE_NAME));
        List<OffloadSettings> settings = new ArrayList<>();
        settings.add(OffloadSettings.of(TablePlacement.HOST));
        settings.add(OffloadSettings.of(TablePlacement.MAPPED));
        OffloadSettings d = OffloadSettings.of(TablePlacement.HOST);
        settings.add(d.toBuilder().optRowFormat(RowFormat.FP32).optGatherThreads(2).optHotRows(64).optRefreshEvery(1)
                .optChunkBytes(4096).build());
        for (OffloadSettings s : settings) {
            OffloadSettings exact = s.toBuilder().optRowFormat(RowFormat.FP32).build();
            try (EngramTables tables = EngramTables.create(lm.getHasher(), dir, exact, manager, DataType.FLOAT32)) {
                lm.setEngramMemories(tables.memories());
                Assert.assertEquals(logits(lm).toFloatArray(), reference, 1e-6f, s.toString());
                Assert.assertEquals(logits(lm).toFloatArray(), reference, 1e-6f, "second pass " + s);
            }
        }
    }

    @Test
    public void prefetchedLookupsGiveTheSameLogitsAsSynchronousOnes() throws IOException {
        EngramLM lm = external();
        try (EngramTables tables = EngramTables.create(lm.getHasher(), dir, OffloadSettings.of(TablePlacement.HOST), manager,
                DataType.FLOAT32); EngramPrefetcher prefetcher = new EngramPrefetcher(lm.getHasher(), tables.memories())) {
            lm.setEngramMemories(tables.memories());
            float[] synchronous = logits(lm).toFloatArray();
            lm.setEngramMemories(prefetcher.memories());
            Assert.assertEquals(logits(lm).toFloatArray(), synchronous, "a read nobody prefetched gathers on the spot");
            Assert.assertEquals(prefetcher.statistics().layerFetches(), 0L);
            ParameterStore ps = new ParameterStore(manager, false);
            for (int round = 0; round < 3; round++) {
                EngramPrefetcher.Batch batch = prefetcher.prefetch(ids, BATCH, LENGTH);
                float[] prefetched = lm.forward(ps, batch.inputs(manager), false).singletonOrThrow().toFloatArray();
                Assert.assertEquals(prefetched, synchronous);
            }
            Assert.assertEquals(prefetcher.statistics().layerFetches(), 3L * tables.layerIds().length);
            // fp16 host rows (the default) round the table: close to, not equal to, the fp32 reference.
            Assert.assertEquals(synchronous, reference, 2e-2f);
        }
    }

    @Test
    public void decodingWithHostTablesEqualsTheFullForward() throws IOException {
        EngramLM lm = external();
        OffloadSettings d = OffloadSettings.of(TablePlacement.HOST);
        OffloadSettings fp32 = d.toBuilder().optRowFormat(RowFormat.FP32).optGatherThreads(1).optRefreshEvery(0).build();
        try (EngramTables tables = EngramTables.create(lm.getHasher(), dir, fp32, manager, DataType.FLOAT32)) {
            lm.setEngramMemories(tables.memories());
            NDArray input = manager.create(ids, new Shape(BATCH, LENGTH));
            ParameterStore ps = new ParameterStore(manager, false);
            try (DecodingState state = lm.newDecodingState(manager, BATCH)) {
                NDList steps = new NDList();
                steps.add(lm.decode(ps, input.get(new NDIndex(":, :5")), state));
                for (int t = 5; t < LENGTH; t++) {
                    steps.add(lm.decode(ps, input.get(new NDIndex(":, {}:{}", t, t + 1)), state));
                }
                Assert.assertEquals(NDArrays.concat(steps, 1).toFloatArray(), reference, 1e-4f);
            }
        }
    }

    @Test
    public void engramRowsReachTheLogits() throws IOException {
        EngramLM lm = external();
        OffloadSettings d = OffloadSettings.of(TablePlacement.HOST);
        HostTransfer transfer = new HostTransfer(manager.getDevice(), d.pinning(), 1);
        List<EngramTable> zeros = new ArrayList<>();
        for (int layer : lm.getHasher().getLayerIds()) {
            long rows = java.util.Arrays.stream(lm.getHasher().headSizes(layer)).sum();
            zeros.add(HostMemoryTable.allocate(rows, lm.getConfig().getEngram().headDim(), RowFormat.FP32, transfer,
                    1 << 20));
        }
        try (EngramTables tables = EngramTables.of(lm.getHasher(), zeros, transfer)) {
            lm.setEngramMemories(tables.memories());
            float[] zeroed = logits(lm).toFloatArray();
            double difference = 0;
            for (int i = 0; i < zeroed.length; i++) {
                difference = Math.max(difference, Math.abs(zeroed[i] - reference[i]));
            }
            Assert.assertTrue(difference > 1e-4, "zeroed tables must change the logits, max change " + difference);
        }
    }

    @Test
    public void badSetupsGiveClearErrors() throws IOException {
        EngramLM lm = external();
        Path empty = Files.createTempDirectory("engram-no-tables");
        try {
            Files.copy(dir.resolve("config.json"), empty.resolve("config.json"));
            IOException missing = Assert.expectThrows(IOException.class, () -> EngramTables.create(lm.getHasher(),
                    empty, OffloadSettings.of(TablePlacement.MAPPED), manager, DataType.FLOAT32));
            Assert.assertTrue(missing.getMessage().contains(TableFile.FILE_NAME), missing.getMessage());
        } finally {
            TemporaryDirectory.deleteTree(empty);
        }
        IllegalArgumentException device = Assert.expectThrows(IllegalArgumentException.class, () -> EngramTables.create(
                lm.getHasher(), dir, OffloadSettings.of(TablePlacement.DEVICE), manager, DataType.FLOAT32));
        Assert.assertTrue(device.getMessage().contains("own parameters"), device.getMessage());
        Assert.expectThrows(IllegalArgumentException.class, () -> lm.setEngramMemories(null));
        Assert.expectThrows(IllegalArgumentException.class,
                () -> OffloadSettings.fromArguments(java.util.Map.of("engramHotRows", "many")));
        Assert.assertEquals(OffloadSettings.fromArguments(java.util.Map.of("engramTables", "mapped",
                "engramRowFormat", "int8")).format(), RowFormat.INT8);
    }
}
