package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.config.EngramConfig;
import ai.engram.hash.NgramHasher;
import ai.engram.io.SafetensorsFile;
import ai.engram.testing.GoldenData;
import ai.engram.tokenizer.CompressedVocabulary;

import com.google.gson.JsonObject;

import org.testng.Assert;
import org.testng.annotations.AfterClass;
import org.testng.annotations.BeforeClass;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Path;

/** Wrong shapes, out-of-range ids and mismatched weights raise IllegalArgumentException naming the value. */
public class EngramBlockBadInputTest {

    private NDManager manager;
    private NgramHasher hasher;
    private EngramConfig config;

    @BeforeClass
    public void setUp() {
        manager = NDManager.newBaseManager();
        config = EngramConfig.builder().engramVocabSize(101, 211).nEmbedPerNgram(16).nHeadPerNgram(2)
                .layerIds(1).padId(0).seed(0).build();
        hasher = new NgramHasher(config, CompressedVocabulary.identity(500));
    }

    @AfterClass
    public void tearDown() {
        manager.close();
    }

    private EngramBlock block(int hidden, int branches) {
        EngramBlock block = EngramBlock.builder().setHashing(hasher, 1).setHiddenSize(hidden).optBranches(branches).build();
        block.initialize(manager, DataType.FLOAT32, new Shape(2, 5, branches, hidden), new Shape(2, 5, 4));
        return block;
    }

    private static void expectMessage(Runnable action, String... fragments) {
        IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class, action::run);
        for (String fragment : fragments) {
            Assert.assertTrue(e.getMessage().contains(fragment), "'" + fragment + "' not in: " + e.getMessage());
        }
    }

    @Test
    public void rejectsWrongShapes() {
        EngramBlock block = block(8, 2);
        ParameterStore ps = new ParameterStore(manager, false);
        NDArray hash = manager.create(hasher.hash(1, new long[10], 2, 5), new Shape(2, 5, 4));
        expectMessage(() -> block.forward(ps, new NDList(manager.zeros(new Shape(2, 5, 2, 9)), hash), false),
                "(2, 5, 2, 9)");
        expectMessage(() -> block.forward(ps, new NDList(manager.zeros(new Shape(2, 5, 3, 8)), hash), false),
                "(2, 5, 3, 8)");
        expectMessage(() -> block.forward(ps, new NDList(manager.zeros(new Shape(2, 5, 2, 8)), hash.reshape(2, 5, 2, 2)),
                false), "(2, 5, 2, 2)");
        expectMessage(() -> block.forward(ps, new NDList(manager.zeros(new Shape(2, 4, 2, 8)), hash), false),
                "(2, 5, 4)");
    }

    @Test
    public void rejectsOutOfRangeHashIds() {
        EngramBlock block = block(8, 1);
        ParameterStore ps = new ParameterStore(manager, false);
        long[] ids = hasher.hash(1, new long[10], 2, 5);
        long[] sizes = hasher.headSizes(1);
        ids[7] = sizes[3]; // position 1, head 3: one past its table
        NDArray hidden = manager.zeros(new Shape(2, 5, 1, 8));
        expectMessage(() -> block.forward(ps, new NDList(hidden, manager.create(ids, new Shape(2, 5, 4))), false),
                String.valueOf(sizes[3]), "head 3");
        ids[7] = -1;
        expectMessage(() -> block.forward(ps, new NDList(hidden, manager.create(ids, new Shape(2, 5, 4))), false),
                "-1");
    }

    @Test
    public void rejectsOutOfRangeTokenIds() {
        expectMessage(() -> hasher.hash(1, new long[] {1, 2, 500}, 1, 3), "500");
        expectMessage(() -> hasher.hash(1, new long[] {-4, 2, 3}, 1, 3), "-4");
        expectMessage(() -> hasher.hash(1, new long[] {1, 2, 3}, 2, 3), "[2, 3]");
        expectMessage(() -> hasher.hash(7, new long[] {1, 2, 3}, 1, 3), "layer 7");
    }

    @Test
    public void rejectsInconsistentConfigs() {
        expectMessage(() -> EngramConfig.builder().engramVocabSize(101).maxNgramSize(3).build(), "engram_vocab_size");
        expectMessage(() -> EngramConfig.builder().nEmbedPerNgram(10).nHeadPerNgram(4).build(), "10", "4");
        expectMessage(() -> EngramConfig.builder().layerIds(2, 2).build(), "duplicate", "2");
        expectMessage(() -> EngramConfig.builder().maxNgramSize(1).engramVocabSize().build(), "max_ngram_size");
        expectMessage(() -> EngramConfig.fromJson("{\"max_ngram_size\": \"three\""), "Malformed");
        expectMessage(() -> EngramBlock.builder().setHashing(config, new long[] {101, 103, 107}).setHiddenSize(8)
                .build(), "3 table sizes");
        expectMessage(() -> EngramBlock.builder().setHashing(hasher, 1).setHiddenSize(8).optBranches(0).build(),
                "branches");
    }

    @Test
    public void rejectsWeightsOfAnotherShape() throws IOException {
        Object[] first = GoldenData.cases("engram-forward-*.json")[0];
        JsonObject testCase = (JsonObject) first[1];
        String name = testCase.get("name").getAsString();
        EngramConfig goldenConfig = EngramConfig.fromJson(testCase.getAsJsonObject("engram").toString());
        int layerId = testCase.get("layer_id").getAsInt();
        int hidden = testCase.getAsJsonObject("backbone").get("hidden_size").getAsInt();
        int branches = testCase.getAsJsonObject("backbone").get("hc_mult").getAsInt();
        NgramHasher goldenHasher = new NgramHasher(goldenConfig,
                CompressedVocabulary.identity(Integer.parseInt(goldenConfig.getTokenizerNameOrPath())));
        Path weights = ((Path) first[0]).resolveSibling(name + ".safetensors");
        try (SafetensorsFile file = SafetensorsFile.open(weights)) {
            EngramBlock wrongHidden = EngramBlock.builder().setHashing(goldenHasher, layerId)
                    .setHiddenSize(hidden + 1).optBranches(branches).build();
            wrongHidden.initialize(manager, DataType.FLOAT32, new Shape(1, 3, branches, hidden + 1),
                    new Shape(1, 3, goldenHasher.headsPerLayer()));
            expectMessage(() -> wrongHidden.loadReferenceWeights(file, ""), "key_projs.0.weight");

            // Same shapes of everything but the tables: a different seed layer gives different primes.
            int otherLayer = goldenConfig.getLayerIds()[goldenConfig.getLayerIds().length - 1];
            if (otherLayer != layerId) {
                EngramBlock wrongTables = EngramBlock.builder().setHashing(goldenHasher, otherLayer)
                        .setHiddenSize(hidden).optBranches(branches).build();
                wrongTables.initialize(manager, DataType.FLOAT32, new Shape(1, 3, branches, hidden),
                        new Shape(1, 3, goldenHasher.headsPerLayer()));
                expectMessage(() -> wrongTables.loadReferenceWeights(file, ""), "offsets");
            }
            EngramBlock block = EngramBlock.builder().setHashing(goldenHasher, layerId).setHiddenSize(hidden)
                    .optBranches(branches).build();
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 3, branches, hidden),
                    new Shape(1, 3, goldenHasher.headsPerLayer()));
            expectMessage(() -> block.loadReferenceWeights(file, "model.layers.1."), "model.layers.1.");
        }
    }
}
