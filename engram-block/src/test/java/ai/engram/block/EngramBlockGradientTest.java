package ai.engram.block;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.engram.config.EngramConfig;
import ai.engram.hash.NgramHasher;
import ai.engram.io.SafetensorsFile;
import ai.engram.testing.GoldenData;
import ai.engram.tokenizer.CompressedVocabulary;

import com.google.gson.JsonObject;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Float64 central finite differences against autograd for every parameter of {@link EngramBlock}, on the
 * reference's non-trivial weights (with zero conv weights the conv norm would get no gradient at all).
 */
public class EngramBlockGradientTest {

    /**
     * The central difference's step. The loss carries float64 rounding noise of ~5e-14 (a sum over every output),
     * which a difference quotient divides by 2 step: measured on wkv.bias, the quotient is off by ~1e-7 at a step
     * of 1e-7, ~2e-8 at 1e-6 (more than this test's 1e-9 allows on small gradients), ~1e-9 at 1e-5 and ~2e-10 at
     * 1e-4, where the truncation error (step squared / 6 times the third derivative) is still far smaller; at 1e-3
     * it shows (~1e-8).
     */
    private static final double STEP = 1e-4;
    private static final int PROBES_PER_PARAMETER = 6;

    @Test
    public void gradientsReachEveryParameter() throws IOException {
        Object[] first = GoldenData.cases("engram-forward-*.json")[0];
        Path jsonFile = (Path) first[0];
        JsonObject testCase = (JsonObject) first[1];
        String name = testCase.get("name").getAsString();
        EngramConfig config = EngramConfig.fromJson(testCase.getAsJsonObject("engram").toString());
        int layerId = testCase.get("layer_id").getAsInt();
        NgramHasher hasher = new NgramHasher(config,
                CompressedVocabulary.identity(Integer.parseInt(config.getTokenizerNameOrPath())));
        JsonObject backbone = testCase.getAsJsonObject("backbone");

        try (SafetensorsFile file = SafetensorsFile.open(jsonFile.resolveSibling(name + ".safetensors"));
                NDManager manager = NDManager.newBaseManager()) {
            NDArray ids = file.load("input.input_ids", manager, DataType.INT64);
            int batch = (int) ids.getShape().get(0);
            int seqLen = (int) ids.getShape().get(1);
            NDArray hashIds = manager.create(hasher.hash(layerId, ids.toLongArray(), batch, seqLen),
                    new Shape(batch, seqLen, hasher.headsPerLayer()));
            NDArray hidden = file.load("input.hidden_states", manager, DataType.FLOAT64);
            NDArray probe = manager.randomNormal(0, 1, hidden.getShape(), DataType.FLOAT64);

            EngramBlock analytic = newBlock(hasher, layerId, backbone, manager, hidden, hashIds, file, false);
            EngramBlock numeric = newBlock(hasher, layerId, backbone, manager, hidden, hashIds, file, false);
            EngramBlock sparse = newBlock(hasher, layerId, backbone, manager, hidden, hashIds, file, true);
            for (Pair<String, Parameter> p : analytic.getParameters()) {
                p.getValue().getArray().setRequiresGradient(true);
            }
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray out = analytic.forward(new ParameterStore(manager, false), new NDList(hidden, hashIds), true)
                        .singletonOrThrow();
                collector.backward(out.mul(probe).sum());
            }

            // The row-sparse path yields the same gradient at the touched rows, and nothing elsewhere.
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray out = sparse.forward(new ParameterStore(manager, false), new NDList(hidden, hashIds), true)
                        .singletonOrThrow();
                collector.backward(out.mul(probe).sum());
            }
            NDArray denseTableGrad = analytic.getEmbedding().getTable().getArray().getGradient();
            var touched = sparse.getEmbedding().drainTouchedRows();
            Assert.assertEquals(touched.size(), 1);
            NDArray rows = touched.get(0).rowIds();
            NDArray atRows = denseTableGrad.get(new ai.djl.ndarray.index.NDIndex("{}", rows));
            Assert.assertTrue(atRows.sub(touched.get(0).values().getGradient()).abs().max().getDouble() < 1e-12,
                    "sparse row gradients equal the dense gradient at the touched rows");
            Assert.assertEquals(denseTableGrad.abs().sum().getDouble(), atRows.abs().sum().getDouble(), 1e-9,
                    "the dense gradient is zero outside the touched rows");

            SplittableRandom random = new SplittableRandom(11);
            long[] usedRows = hashIds.add(manager.create(analytic.getEmbedding().getOffsets())).toLongArray();
            for (Pair<String, Parameter> p : analytic.getParameters()) {
                String parameterName = p.getKey();
                double[] grad = p.getValue().getArray().getGradient().toDoubleArray();
                Parameter twin = numeric.getParameters().get(parameterName);
                Shape shape = twin.getArray().getShape();
                double gradNorm = 0;
                for (double g : grad) {
                    gradNorm += g * g;
                }
                Assert.assertTrue(gradNorm > 0, parameterName + " receives no gradient");
                for (int k = 0; k < PROBES_PER_PARAMETER; k++) {
                    int index;
                    if (parameterName.contains("embed")) {
                        // A row the hashes actually address, so the probe is not trivially zero.
                        long row = usedRows[random.nextInt(usedRows.length)];
                        index = (int) (row * shape.get(1) + random.nextInt((int) shape.get(1)));
                    } else {
                        index = random.nextInt(grad.length);
                    }
                    double fd = finiteDifference(numeric, twin, index, manager, hidden, hashIds, probe);
                    double scale = Math.max(1e-3, Math.abs(fd) + Math.abs(grad[index]));
                    Assert.assertTrue(Math.abs(fd - grad[index]) / scale < 1e-6,
                            parameterName + "[" + index + "]: autograd " + grad[index] + ", finite difference " + fd);
                }
            }
        }
    }

    private static EngramBlock newBlock(NgramHasher hasher, int layerId, JsonObject backbone, NDManager manager,
            NDArray hidden, NDArray hashIds, SafetensorsFile file, boolean sparse) {
        EngramBlock block = EngramBlock.builder()
                .setHashing(hasher, layerId)
                .setHiddenSize(backbone.get("hidden_size").getAsInt())
                .optBranches(backbone.get("hc_mult").getAsInt())
                .optSparseTableGradients(sparse)
                .build();
        block.initialize(manager, DataType.FLOAT64, hidden.getShape(), hashIds.getShape());
        block.loadReferenceWeights(file, "");
        return block;
    }

    private static double finiteDifference(EngramBlock block, Parameter parameter, int index, NDManager manager,
            NDArray hidden, NDArray hashIds, NDArray probe) {
        double[] values = parameter.getArray().toDoubleArray();
        Shape shape = parameter.getArray().getShape();
        double original = values[index];
        values[index] = original + STEP;
        ParameterValues.assign(parameter, manager.create(values, shape), "probe");
        double plus = loss(block, manager, hidden, hashIds, probe);
        values[index] = original - STEP;
        ParameterValues.assign(parameter, manager.create(values, shape), "probe");
        double minus = loss(block, manager, hidden, hashIds, probe);
        values[index] = original;
        ParameterValues.assign(parameter, manager.create(values, shape), "probe");
        return (plus - minus) / (2 * STEP);
    }

    private static double loss(EngramBlock block, NDManager manager, NDArray hidden, NDArray hashIds, NDArray probe) {
        try (NDManager scope = manager.newSubManager()) {
            NDArray out = block.forward(new ParameterStore(scope, false), new NDList(hidden, hashIds), false)
                    .singletonOrThrow();
            out.attach(scope);
            return out.mul(probe).sum().getDouble();
        }
    }
}
