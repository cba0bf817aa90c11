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
import org.testng.annotations.DataProvider;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Every case of every {@code engram-forward-*.json}: the reference's weights loaded into {@link EngramBlock}
 * reproduce the reference's output, with hash ids from our own {@link NgramHasher}.
 */
public class EngramBlockGoldenTest {

    @DataProvider(name = "cases")
    public Object[][] cases() {
        Object[][] cases = GoldenData.cases("engram-forward-*.json");
        Object[][] rows = new Object[cases.length * 2][];
        for (int i = 0; i < cases.length; i++) {
            rows[2 * i] = new Object[] {cases[i][0], cases[i][1], DataType.FLOAT64, 1e-9};
            rows[2 * i + 1] = new Object[] {cases[i][0], cases[i][1], DataType.FLOAT32, 1e-4};
        }
        return rows;
    }

    @Test(dataProvider = "cases")
    public void reproducesReference(Path jsonFile, JsonObject testCase, DataType type, double tolerance)
            throws IOException {
        String name = testCase.get("name").getAsString();
        Path weights = jsonFile.resolveSibling(name + ".safetensors");
        EngramConfig config = EngramConfig.fromJson(testCase.getAsJsonObject("engram").toString());
        JsonObject backbone = testCase.getAsJsonObject("backbone");
        int layerId = testCase.get("layer_id").getAsInt();
        int vocab = Integer.parseInt(config.getTokenizerNameOrPath());
        NgramHasher hasher = new NgramHasher(config, CompressedVocabulary.identity(vocab));

        try (SafetensorsFile file = SafetensorsFile.open(weights);
                NDManager manager = NDManager.newBaseManager()) {
            NDArray inputIds = file.load("input.input_ids", manager, DataType.INT64);
            Shape idShape = inputIds.getShape();
            long[] hashes = hasher.hash(layerId, inputIds.toLongArray(), (int) idShape.get(0), (int) idShape.get(1));
            Assert.assertEquals(hashes, file.load("hash_ids", manager, DataType.INT64).toLongArray(),
                    name + ": hash ids");

            NDArray hidden = file.load("input.hidden_states", manager, type);
            NDArray hashIds = manager.create(hashes, new Shape(idShape.get(0), idShape.get(1), hasher.headsPerLayer()));
            EngramBlock block = EngramBlock.builder()
                    .setHashing(hasher, layerId)
                    .setHiddenSize(backbone.get("hidden_size").getAsInt())
                    .optBranches(backbone.get("hc_mult").getAsInt())
                    .build();
            block.initialize(manager, type, hidden.getShape(), hashIds.getShape());
            block.loadReferenceWeights(file, "");

            NDArray output = block.forward(new ParameterStore(manager, false), new NDList(hidden, hashIds), false)
                    .singletonOrThrow();
            // int32 hash ids (the hot path's format) address the same rows.
            NDArray fromInt32 = block.forward(new ParameterStore(manager, false),
                    new NDList(hidden, hashIds.toType(DataType.INT32, false)), false).singletonOrThrow();
            Assert.assertEquals(fromInt32.toByteBuffer(), output.toByteBuffer(), name + ": int32 vs int64 hash ids");
            NDArray expected = file.load("output", manager, DataType.FLOAT64);
            Assert.assertEquals(output.getShape(), expected.getShape(), name + ": output shape");
            double error = relativeError(output.toType(DataType.FLOAT64, false), expected);
            System.out.printf("%s %s: relative error %.3e%n", name, type, error);
            Assert.assertTrue(error <= tolerance, name + " " + type + ": relative error " + error + " > " + tolerance);
        }
    }

    /** ‖actual − expected‖ / ‖expected‖. */
    static double relativeError(NDArray actual, NDArray expected) {
        return actual.sub(expected).norm().getDouble() / expected.norm().getDouble();
    }
}
