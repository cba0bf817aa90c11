package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.training.ParameterStore;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.List;
import java.util.function.UnaryOperator;

/** M = 1 is a plain residual; M > 1 starts as one and keeps its mixing matrix doubly stochastic. */
public class HyperConnectionTest {

    @Test
    public void singleBranchIsPlainResidual() {
        try (NDManager manager = NDManager.newBaseManager()) {
            HyperConnection hc = HyperConnection.builder().setHiddenSize(8).setSublayer(sublayer(x -> x.mul(x).add(1)))
                    .build();
            hc.initialize(manager, DataType.FLOAT64, new Shape(2, 3, 1, 8));
            Assert.assertEquals(hc.getParameters().size(), 0);
            NDArray h = manager.randomNormal(0, 1, new Shape(2, 3, 1, 8), DataType.FLOAT64);
            NDArray out = forward(hc, manager, h, false);
            NDArray expected = h.add(h.squeeze(2).mul(h.squeeze(2)).add(1).expandDims(2));
            Assert.assertEquals(out.sub(expected).abs().max().getDouble(), 0.0);
        }
    }

    @Test
    public void manyBranchesStartAsResidualOfTheBranchMean() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray[] seen = new NDArray[1];
            HyperConnection hc = HyperConnection.builder().optBranches(4).setHiddenSize(8).setSublayer(sublayer(x -> {
                seen[0] = x;
                return x.mul(2);
            })).build();
            hc.initialize(manager, DataType.FLOAT64, new Shape(2, 3, 4, 8));
            NDArray h = manager.randomNormal(0, 1, new Shape(2, 3, 4, 8), DataType.FLOAT64);
            NDArray out = forward(hc, manager, h, false);
            // pre = 1/M, post = 1, res = Sinkhorn(exp(I-biased)) ≈ I at initialisation (φ = 0).
            double inputError = seen[0].sub(h.mean(new int[] {2})).abs().max().getDouble();
            // The bias initialiser works in float32, so pre is 1/M to float32 precision.
            Assert.assertTrue(inputError < 1e-6, "input differs from the branch mean by " + inputError + ": "
                    + hc.getParameters().keys());
            NDArray expected = h.add(h.mean(new int[] {2}).mul(2).expandDims(2));
            // Off-diagonal mixing starts at about exp(-8) per branch pair: branch i's output moves off h_i by
            // Σ_{j≠i} res_ij (h_j − h_i), at most (1 − res_ii) · 2 max|h| with 1 − res_ii ≈ 3 exp(-8).
            double bound = 3 * Math.exp(-8) * 2 * h.abs().max().getDouble() * 1.05;
            Assert.assertTrue(out.sub(expected).abs().max().getDouble() < bound,
                    "difference " + out.sub(expected).abs().max().getDouble());
        }
    }

    @Test
    public void gradientsMatchFiniteDifferences() {
        try (NDManager manager = NDManager.newBaseManager()) {
            HyperConnection hc = HyperConnection.builder().optBranches(3).setHiddenSize(6)
                    .setSublayer(sublayer(NDArray::tanh)).build();
            hc.initialize(manager, DataType.FLOAT64, new Shape(2, 3, 3, 6));
            // Move every parameter off its initial value so all terms are live.
            for (var p : hc.getParameters()) {
                NDArray a = p.getValue().getArray();
                a.set(a.add(manager.randomNormal(0, 0.5f, a.getShape(), DataType.FLOAT64)).toByteBuffer());
            }
            NDArray h = manager.randomNormal(0, 1, new Shape(2, 3, 3, 6), DataType.FLOAT64);
            NDArray probe = manager.randomNormal(0, 1, new Shape(2, 3, 3, 6), DataType.FLOAT64);
            GradientCheck.check(hc, training -> forward(hc, manager, h, training).mul(probe).sum(), manager, 5);
        }
    }

    @Test
    public void decodeStepsComputeTheSameUpdateWithTheirCoefficientsOnTheHost() {
        // Inference forwards of a few tokens take the host path; training forwards (and long ones) the device path.
        for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
            try (NDManager manager = NDManager.newBaseManager()) {
                HyperConnection hc = HyperConnection.builder().optBranches(4).setHiddenSize(16)
                        .setSublayer(sublayer(x -> x.tanh().mul(x))).build();
                hc.initialize(manager, type, new Shape(2, 3, 4, 16));
                for (var p : hc.getParameters()) {    // every term live: φ, α and the biases off their start values
                    NDArray a = p.getValue().getArray();
                    NDArray noise = manager.randomNormal(0, 0.5f, a.getShape(), DataType.FLOAT64).toType(type, false);
                    a.set(a.add(noise).toByteBuffer());
                }
                NDArray h = manager.randomNormal(0, 1, new Shape(2, 3, 4, 16), DataType.FLOAT64).toType(type, false);
                NDArray onHost = forward(hc, manager, h, false);
                NDArray onDevice = forward(hc, manager, h, true);
                Assert.assertEquals(onHost.getDataType(), type);
                Assert.assertEquals(onHost.getShape(), h.getShape());
                double tolerance = switch (type) {
                    case FLOAT64 -> 1e-12;
                    case FLOAT32 -> 1e-5;
                    default -> 2e-2;
                };
                double error = onHost.toType(DataType.FLOAT64, false).sub(onDevice.toType(DataType.FLOAT64, false))
                        .abs().max().getDouble();
                double scale = onDevice.toType(DataType.FLOAT64, false).abs().max().getDouble();
                Assert.assertTrue(error < tolerance * Math.max(1, scale), type + ": host and device paths differ by "
                        + error + " (largest value " + scale + ")");
            }
        }
    }

    @Test
    public void bothPathsComputeTheDefiningFormula() {
        // The forward folds the norm's per-token scale past the projection; here the formula as written:
        // coefficients = RMSNorm(flat H) · Φᵀ, pre = σ(α₀ c_pre + b_pre), post = 2 σ(α₁ c_post + b_post),
        // res = Sinkhorn(α₂ c_res + b_res), output = res · H + post ⊗ F(Σ_m pre_m H_m).
        int m = 4;
        int d = 16;
        try (NDManager manager = NDManager.newBaseManager()) {
            UnaryOperator<NDArray> f = x -> x.tanh().mul(x);
            HyperConnection hc = HyperConnection.builder().optBranches(m).setHiddenSize(d).optNormEpsilon(1e-6)
                    .setSublayer(sublayer(f)).build();
            hc.initialize(manager, DataType.FLOAT64, new Shape(2, 3, m, d));
            for (var p : hc.getParameters()) {
                NDArray a = p.getValue().getArray();
                a.set(a.add(manager.randomNormal(0, 0.5f, a.getShape(), DataType.FLOAT64)).toByteBuffer());
            }
            var parameters = hc.getParameters();
            NDArray phi = parameters.get("phi").getArray();
            NDArray alpha = parameters.get("alpha").getArray();
            NDArray gain = parameters.valueAt(parameters.keys().indexOf(parameters.keys().stream()
                    .filter(k -> k.endsWith("weight")).findFirst().orElseThrow())).getArray();
            NDArray h = manager.randomNormal(0, 1, new Shape(2, 3, m, d), DataType.FLOAT64).mul(3);

            NDArray normed = RMSNorm.rmsNorm(h.reshape(2, 3, (long) m * d), gain, 1e-6);
            NDArray c = normed.matMul(phi.transpose());
            NDArray pre = Activation.sigmoid(c.get("..., :4").mul(alpha.getDouble(0))
                    .add(parameters.get("pre_bias").getArray()));
            NDArray post = Activation.sigmoid(c.get("..., 4:8").mul(alpha.getDouble(1))
                    .add(parameters.get("post_bias").getArray())).mul(2);
            NDArray res = HyperConnection.sinkhornOfLogits(c.get("..., 8:").reshape(2, 3, m, m)
                    .mul(alpha.getDouble(2)).add(parameters.get("res_bias").getArray()));
            NDArray out = f.apply(pre.expandDims(-1).mul(h).sum(new int[] {2}));
            NDArray expected = res.matMul(h).add(post.expandDims(-1).mul(out.expandDims(2)));

            for (boolean training : new boolean[] {false, true}) {   // the host path (6 tokens), the device path
                // each with its scripted functions and with DJL operations only (where the engine cannot run them)
                for (boolean scripted : new boolean[] {true, false}) {
                    NDArray actual = scripted ? forward(hc, manager, h, training)
                            : ScriptedFunction.byOperations(() -> forward(hc, manager, h, training));
                    for (List<ScriptedFunction> step : HyperConnection.scriptedFunctions()) {   // else vacuous
                        boolean ran = step.stream().anyMatch(function -> function.hasRun(manager.getDevice()));
                        Assert.assertTrue(!scripted || ran, "the host path (run first) did not run " + step.get(0).forwardSource());
                    }
                    double error = actual.sub(expected).abs().max().getDouble();
                    Assert.assertTrue(error < 1e-12, (training ? "device" : "host") + " path"
                            + (scripted ? "" : " by operations") + " differs by " + error);
                }
            }
        }
    }

    private static Block sublayer(UnaryOperator<NDArray> f) {
        return new LambdaBlock(list -> new NDList(f.apply(list.singletonOrThrow())));
    }

    private static NDArray forward(HyperConnection hc, NDManager manager, NDArray h, boolean training) {
        return hc.forward(new ParameterStore(manager, false), new NDList(h), training).singletonOrThrow();
    }

    @Test
    public void byTermsFormsAreTheBatchedMatrixProducts() {
        // The forms long forwards take on a GPU (fused there by libtorch), here run unfused against pre · H and
        // [res | post] · [H ; F].
        try (NDManager manager = NDManager.newBaseManager()) {
            for (int m : new int[] {2, 4}) {
                for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32}) {
                    NDArray mix = manager.randomUniform(-1, 1, new Shape(2, 3, m, m + 1), type);
                    NDArray stream = manager.randomUniform(-1, 1, new Shape(2, 3, m, 5), type);
                    NDArray out = manager.randomUniform(-1, 1, new Shape(2, 3, 5), type);
                    NDArray expected = mix.matMul(ai.djl.ndarray.NDArrays.concat(
                            new ai.djl.ndarray.NDList(stream, out.reshape(2, 3, 1, 5)), 2));
                    NDArray pre = manager.randomUniform(-1, 1, new Shape(2, 3, 1, m), type);
                    NDArray input = HyperConnection.inputByTerms(pre, stream).orElseThrow();
                    Assert.assertEquals(input.getShape(), out.getShape());
                    double inputError = input.sub(pre.matMul(stream).reshape(2, 3, 5)).abs().max()
                            .toType(DataType.FLOAT64, false).getDouble();
                    Assert.assertTrue(inputError < (type == DataType.FLOAT64 ? 1e-12 : 1e-5), "input M=" + m + " "
                            + type + ": " + inputError);
                    NDArray byTerms = HyperConnection.updateByTerms(mix, stream, out).orElseThrow();
                    Assert.assertEquals(byTerms.getShape(), stream.getShape());
                    Assert.assertEquals(byTerms.getDataType(), type);
                    double tolerance = type == DataType.FLOAT64 ? 1e-12 : 1e-5;
                    double error = byTerms.sub(expected).abs().max().toType(DataType.FLOAT64, false).getDouble();
                    Assert.assertTrue(error < tolerance, "M=" + m + " " + type + ": " + error);
                }
            }
        }
    }

    @Test
    public void sinkhornIsDoublyStochastic() {
        try (NDManager manager = NDManager.newBaseManager()) {
            // Fixed values: entries drawn anywhere in [0.01, 5) sometimes leave 20 iterations short of 1e-6 on the
            // rows (a draw of the engine's unseeded generator failed once in a full run).
            java.util.SplittableRandom random = new java.util.SplittableRandom(5);
            double[] values = new double[7 * 4 * 4];
            for (int i = 0; i < values.length; i++) {
                values[i] = random.nextDouble(0.01, 5);
            }
            NDArray positive = manager.create(values, new Shape(7, 4, 4));
            NDArray p = HyperConnection.sinkhorn(positive);
            Assert.assertTrue(p.sum(new int[] {-1}).sub(1).abs().max().getDouble() < 1e-6);
            Assert.assertTrue(p.sum(new int[] {-2}).sub(1).abs().max().getDouble() < 1e-9);
        }
    }

    @Test
    public void hostSinkhornIsTheDeviceSinkhorn() {
        try (NDManager manager = NDManager.newBaseManager()) {
            for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32}) {
                NDArray logits = manager.randomNormal(0, 3, new Shape(2, 3, 4, 4), DataType.FLOAT64).toType(type, false);
                NDArray onDevice = HyperConnection.sinkhornOfLogits(logits);
                NDArray onHost = HyperConnection.sinkhornOnHost(logits);
                Assert.assertEquals(onHost.getDataType(), type);
                Assert.assertEquals(onHost.getShape(), logits.getShape());
                double tolerance = type == DataType.FLOAT64 ? 1e-12 : 1e-5;
                double error = onHost.toType(DataType.FLOAT64, false).sub(onDevice.toType(DataType.FLOAT64, false))
                        .abs().max().getDouble();
                Assert.assertTrue(error < tolerance, type + ": host and device differ by " + error);
            }
        }
    }
}
