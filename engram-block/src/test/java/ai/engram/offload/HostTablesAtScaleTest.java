package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.data.NpmPackageFile;
import ai.engram.memory.EngramMemory;
import ai.engram.model.EngramGenerator;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.GenerationSettings;
import ai.engram.tokenizer.CompressedVocabulary;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Engram-27B's shapes (d 2560, MLA ranks 512, 32 heads, experts of 1536, M = 4 hyper-connections, 8 Engram heads of
 * 80 per N-gram order; 3 layers, 8 experts and smaller tables to stay small) on the default device — the GPU on the
 * device machine: host tables (pinned there) give the device tables' logits, prefetched generation gives the same
 * tokens, and closing the tables unpins and frees what they held.
 */
public class HostTablesAtScaleTest {

    @Test
    public void hostTablesGiveTheDeviceTablesLogitsAt27bShapes() throws IOException {
        EngramModelConfig config = EngramModelConfig.named("engram-27b").with("{\"num_hidden_layers\": 3, "
                + "\"n_routed_experts\": 8, \"engram\": {\"engram_vocab_size\": [50021, 50021], \"max_ngram_size\": 3,"
                + " \"n_embed_per_ngram\": 640, \"n_head_per_ngram\": 8, \"layer_ids\": [1, 2], \"pad_id\": 2,"
                + " \"seed\": 0, \"kernel_size\": 4}}");
        CompressedVocabulary vocabulary = CompressedVocabulary.fromTokenizer(NpmPackageFile.DEEPSEEK_V3_TOKENIZER.resolve());
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.getEngine().setRandomSeed(27);
            EngramLM lm = new EngramLM(config, vocabulary);
            lm.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            long[] ids = new SplittableRandom(3).longs(24, 3, vocabulary.rawSize()).toArray();
            ParameterStore ps = new ParameterStore(manager, false);
            float[] onDevice = logits(lm, ps, manager, ids);
            long[] deviceTokens = new EngramGenerator(lm).generate(ps, ids, GenerationSettings.greedy(6, -1), manager);

            HostTransfer transfer = new HostTransfer(manager.getDevice(), PinningMode.REQUIRED, 4);
            List<HostTable> tables = new ArrayList<>();
            for (EngramMemory device : lm.getEngramMemories()) {
                tables.add(copyToHost(((ai.engram.block.MultiHeadEmbedding) device).getTable().getArray(), transfer));
            }
            long pinned = transfer.pinning().pinnedBytes();
            if (manager.getDevice().isGpu()) {
                Assert.assertTrue(pinned >= tables.get(0).rowCount() * 80 * 4, "tables pinned: " + pinned);
            }
            try (EngramTables host = EngramTables.of(lm.getHasher(), tables, transfer)) {
                lm.setEngramMemories(host.memories());
                float[] fromHost = logits(lm, ps, manager, ids);
                float max = 0;
                float difference = 0;
                for (int i = 0; i < onDevice.length; i++) {
                    max = Math.max(max, Math.abs(onDevice[i]));
                    difference = Math.max(difference, Math.abs(onDevice[i] - fromHost[i]));
                }
                Assert.assertTrue(difference <= 1e-5 * Math.max(1, max), "host vs device logits differ by "
                        + difference + " (max |logit| " + max + ")");
                try (EngramPrefetcher prefetcher = new EngramPrefetcher(lm.getHasher(), host.memories())) {
                    lm.setEngramMemories(prefetcher.memories());
                    long[] prefetched = new EngramGenerator(lm).generate(ps, ids, GenerationSettings.greedy(6, -1),
                            manager);
                    Assert.assertEquals(prefetched, deviceTokens, "prefetched host tables generate the same tokens");
                    Assert.assertEquals(prefetcher.statistics().layerFetches(), 2L * 6,
                            "every Engram read of the prompt and the steps found its prefetch");
                }
            }
            Assert.assertEquals(transfer.pinning().pinnedBytes(), 0, "closing the tables unpins them");
            for (HostTable table : tables) {
                Assert.assertTrue(table.isClosed());
            }
        }
    }

    private static float[] logits(EngramLM lm, ParameterStore ps, NDManager manager, long[] ids) {
        try (NDManager scope = manager.newSubManager()) {
            NDArray input = scope.create(ids, new Shape(1, ids.length));
            return lm.forward(ps, new NDList(input), false).singletonOrThrow().toFloatArray();
        }
    }

    /** The device table's rows, exactly (fp32 rows), in host memory. */
    private static HostTable copyToHost(NDArray table, HostTransfer transfer) {
        long rows = table.getShape().get(0);
        int dim = (int) table.getShape().get(1);
        HostMemoryTable host = HostMemoryTable.allocate(rows, dim, RowFormat.FP32, transfer, 1L << 28);
        for (long start = 0; start < rows; start += 1 << 16) {
            try (NDManager scope = table.getManager().newSubManager()) {
                NDArray part = table.get(new NDIndex("{}:{}", start, Math.min(rows, start + (1 << 16))));
                part.attach(scope);
                host.write(start, part.toFloatArray());
            }
        }
        return host;
    }
}
