package ai.engram.block;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.model.NoGradientScope;

import org.testng.Assert;
import org.testng.SkipException;
import org.testng.annotations.Test;

import java.util.Arrays;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * The fused kernels compute what the operations do, in float64, float32 and float16: the hyper-connection
 * coefficients kernel gives pre, post and the Sinkhorn-normalised res of the definition
 * ({@link HyperConnection#sinkhornOfLogits} for res); the gathered-experts kernel gives the MoE's routed experts of
 * {@link MoEBlock#forwardByOperations}; the hyper-connection stream kernels give {@code pre · H} and
 * {@code [res | post] · [H ; F]}. Needs a GPU and libengram_cuda_graphs.so built with its kernels; skipped
 * without them (examples/scripts/check-kernels-on-host.sh checks the coefficients' arithmetic without a GPU).
 */
public class FusedKernelsTest {

    @Test
    public void hyperConnectionCoefficientsMatchTheirDefinition() {
        requireKernels();
        SplittableRandom random = new SplittableRandom(12);
        int d = 16;
        double eps = 1e-6;
        try (NDManager manager = NDManager.newBaseManager(Device.gpu(0));
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
            for (int m : new int[] {2, 4}) {
                int width = 2 * m + m * m;
                int tokens = 21; // [3, 7]: more than one block of the kernel's 16 tokens
                double[] projected = random.doubles((long) tokens * width, -3, 3).toArray();
                double[] norm = random.doubles(tokens, 0.5, 20).toArray();
                double[] alpha = {0.7, -0.4, 1.3};
                double[] preBias = random.doubles(m, -1, 1).toArray();
                double[] postBias = random.doubles(m, -1, 1).toArray();
                double[] resBias = random.doubles((long) m * m, -8, 0).toArray();
                for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
                    Optional<NDList> fused = FusedKernels.hyperConnectionCoefficients(
                            on(manager, projected, new Shape(3, 7, width), type), on(manager, norm, new Shape(3, 7, 1), type),
                            on(manager, alpha, new Shape(3), type), on(manager, preBias, new Shape(m), type),
                            on(manager, postBias, new Shape(m), type), on(manager, resBias, new Shape(m, m), type),
                            (long) m * d, eps);
                    Assert.assertTrue(fused.isPresent(), "the kernel ran for " + type + ", M = " + m);
                    Assert.assertEquals(fused.get().get(0).getShape(), new Shape(3, 7, 1, m));
                    Assert.assertEquals(fused.get().get(1).getShape(), new Shape(3, 7, m, m + 1));
                    double[] pre = fused.get().get(0).toType(DataType.FLOAT64, false).toDoubleArray();
                    double[] mix = fused.get().get(1).toType(DataType.FLOAT64, false).toDoubleArray();
                    double tolerance = type == DataType.FLOAT64 ? 1e-12 : type == DataType.FLOAT32 ? 1e-5 : 3e-3;
                    for (int n = 0; n < tokens; n++) {
                        // the definition (HyperConnection's device path), in double precision on the host
                        double scale = 1 / Math.sqrt(norm[n] * norm[n] / (m * d) + eps);
                        double[] logits = new double[m * m];
                        for (int k = 0; k < m * m; k++) {
                            logits[k] = scale * projected[n * width + 2 * m + k] * alpha[2] + resBias[k];
                        }
                        double[] res = HyperConnection.sinkhornOfLogits(manager.create(logits, new Shape(m, m)))
                                .toDoubleArray();
                        for (int i = 0; i < m; i++) {
                            double p = sigmoid(scale * projected[n * width + i] * alpha[0] + preBias[i]);
                            double q = 2 * sigmoid(scale * projected[n * width + m + i] * alpha[1] + postBias[i]);
                            String where = type + " M = " + m + " token " + n + " row " + i;
                            Assert.assertEquals(pre[n * m + i], p, tolerance, where + ": pre");
                            Assert.assertEquals(mix[(n * m + i) * (m + 1) + m], q, 2 * tolerance, where + ": post");
                            for (int j = 0; j < m; j++) {
                                Assert.assertEquals(mix[(n * m + i) * (m + 1) + j], res[i * m + j], tolerance,
                                        where + ": res column " + j);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    public void gatheredExpertsMatchTheOperations() {
        requireKernels();
        // {d, f}: rows of whole 16-byte loads in float16 (the kernel's vectorised path), and rows of neither
        int[][] dims = {{64, 32}, {20, 12}};
        int experts = 24;
        int topK = 3;
        for (int[] dim : dims) {
            for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
                // 1, 2 and 8 tokens take the kernel (tokens · k <= E); 9 run every expert
                for (Shape shape : new Shape[] {new Shape(1, 1, dim[0]), new Shape(2, 1, dim[0]),
                        new Shape(2, 4, dim[0]), new Shape(3, 3, dim[0])}) {
                    try (NDManager manager = NDManager.newBaseManager(Device.gpu(0));
                            NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
                        MoEBlock moe = MoEBlock.builder().setHiddenSize(dim[0]).setRoutedExperts(experts)
                                .setExpertsPerToken(topK).setExpertSize(dim[1]).optSharedExperts(1)
                                .optRoutedScalingFactor(2.5).optGroups(4, 2).optNormalizeTopK(true)
                                .optRouterType(DataType.FLOAT32).build();
                        moe.initialize(manager, type, shape);
                        NDArray x = manager.randomNormal(0, 1, shape, DataType.FLOAT32).toType(type, false);
                        ParameterStore ps = new ParameterStore(manager, false);
                        Optional<NDArray> fused = moe.fusedDecodeFunction().callSingle(moe.decodeArguments(ps, x));
                        String where = type + " d " + dim[0] + " f " + dim[1] + " " + shape;
                        Assert.assertTrue(fused.isPresent(), "the fused MoE decode ran for " + where);
                        NDArray operations = moe.forwardByOperations(ps, x, false);
                        Assert.assertEquals(fused.get().getShape(), shape);
                        Assert.assertEquals(fused.get().getDataType(), type);
                        double tolerance = type == DataType.FLOAT64 ? 1e-12 : type == DataType.FLOAT32 ? 1e-5 : 3e-3;
                        assertCloseAtScale(fused.get(), operations, tolerance, 1e-3,
                                where + ": kernel and operations");
                    }
                }
            }
        }
    }

    @Test
    public void hyperConnectionStreamPassesMatchTheirDefinition() {
        requireKernels();
        SplittableRandom random = new SplittableRandom(5);
        try (NDManager manager = NDManager.newBaseManager(Device.gpu(0));
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
            // d 40: whole 16-byte loads in every type (the vectorised path); d 13: none; M 1, 4 and 8 (the largest)
            for (int d : new int[] {40, 13}) {
                for (int m : new int[] {1, 4, 8}) {
                    int b = 3;
                    int t = 70; // 210 tokens: several blocks of the kernel's threads
                    int n = b * t;
                    double[] stream = random.doubles((long) n * m * d, -2, 2).toArray();
                    double[] fresh = random.doubles((long) n * d, -2, 2).toArray();
                    double[] pre = random.doubles((long) n * m, 0, 1).toArray();
                    double[] mix = random.doubles((long) n * m * (m + 1), 0, 2).toArray();
                    for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
                        String where = type + " d " + d + " M " + m;
                        NDArray h = on(manager, stream, new Shape(b, t, m, d), type);
                        Optional<NDArray> input = FusedKernels.hyperConnectionInput(
                                on(manager, pre, new Shape(b, t, 1, m), type), h);
                        Optional<NDArray> update = FusedKernels.hyperConnectionUpdate(
                                on(manager, mix, new Shape(b, t, m, m + 1), type), h,
                                on(manager, fresh, new Shape(b, t, d), type));
                        Assert.assertTrue(input.isPresent() && update.isPresent(), "the kernels ran for " + where);
                        Assert.assertEquals(input.get().getShape(), new Shape(b, t, d));
                        Assert.assertEquals(update.get().getShape(), new Shape(b, t, m, d));
                        Assert.assertEquals(update.get().getDataType(), type);
                        double[] x = input.get().toType(DataType.FLOAT64, false).toDoubleArray();
                        double[] next = update.get().toType(DataType.FLOAT64, false).toDoubleArray();
                        // inputs rounded to the type first, so only the kernels' own arithmetic is measured
                        double[] hs = h.toType(DataType.FLOAT64, false).toDoubleArray();
                        double[] fs = on(manager, fresh, new Shape(n * d), type).toType(DataType.FLOAT64, false)
                                .toDoubleArray();
                        double[] ps = on(manager, pre, new Shape(n * m), type).toType(DataType.FLOAT64, false)
                                .toDoubleArray();
                        double[] ms = on(manager, mix, new Shape(n * m * (m + 1)), type)
                                .toType(DataType.FLOAT64, false).toDoubleArray();
                        double tolerance = type == DataType.FLOAT64 ? 1e-12 : type == DataType.FLOAT32 ? 1e-5 : 2e-3;
                        for (int k = 0; k < n; k++) {
                            for (int c = 0; c < d; c++) {
                                double expected = 0;
                                for (int j = 0; j < m; j++) {
                                    expected += ps[k * m + j] * hs[(k * m + j) * d + c];
                                }
                                Assert.assertEquals(x[k * d + c], expected, tolerance * Math.max(1, Math.abs(expected)),
                                        where + ": input, token " + k + " column " + c);
                                for (int i = 0; i < m; i++) {
                                    double value = ms[(k * m + i) * (m + 1) + m] * fs[k * d + c];
                                    for (int j = 0; j < m; j++) {
                                        value += ms[(k * m + i) * (m + 1) + j] * hs[(k * m + j) * d + c];
                                    }
                                    Assert.assertEquals(next[(k * m + i) * d + c], value,
                                            tolerance * Math.max(1, Math.abs(value)),
                                            where + ": update, token " + k + " branch " + i + " column " + c);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    public void sortedExpertsMatchTheirDefinition() {
        requireKernels();
        SplittableRandom random = new SplittableRandom(8);
        int d = 24;
        int f = 16;
        long[] counts = {5, 0, 130, 1, 0, 64, 17, 300}; // empty experts, one row, several of the kernels' tiles
        int experts = counts.length;
        int rows = Math.toIntExact(Arrays.stream(counts).sum());
        double[] x = random.doubles((long) rows * d, -1, 1).toArray();
        double[] gate = random.doubles((long) experts * f * d, -0.5, 0.5).toArray();
        double[] up = random.doubles((long) experts * f * d, -0.5, 0.5).toArray();
        double[] down = random.doubles((long) experts * d * f, -0.5, 0.5).toArray();
        try (NDManager manager = NDManager.newBaseManager(Device.gpu(0));
                NDManager host = NDManager.newBaseManager(Device.cpu());
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
            NDArray sizes = host.create(counts);
            for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
                NDArray xs = on(manager, x, new Shape(rows, d), type);
                NDArray gates = on(manager, gate, new Shape(experts, f, d), type);
                NDArray ups = on(manager, up, new Shape(experts, f, d), type);
                NDArray downs = on(manager, down, new Shape(experts, d, f), type);
                Optional<NDArray> fused = FusedKernels.sortedExperts(xs, sizes, gates, ups, downs);
                Assert.assertTrue(fused.isPresent(), "the op ran for " + type);
                Assert.assertEquals(fused.get().getShape(), new Shape(rows, d));
                Assert.assertEquals(fused.get().getDataType(), type);
                // the definition, expert by expert, in float64 from the values as rounded to the type
                NDArray expected = NDArrays.concat(expertByExpert(xs, gates, ups, downs, counts));
                double tolerance = type == DataType.FLOAT64 ? 1e-12 : type == DataType.FLOAT32 ? 1e-5 : 3e-3;
                assertCloseAtScale(fused.get(), expected, tolerance, 1e-2, type + ": op and definition");
            }
            // counts that do not add up to the rows: the op refuses (the call falls back to the caller's operations)
            NDArray shortOfOne = on(manager, Arrays.copyOf(x, (rows - 1) * d), new Shape(rows - 1, d), DataType.FLOAT32);
            Assert.assertTrue(FusedKernels.sortedExperts(shortOfOne, sizes,
                    on(manager, gate, new Shape(experts, f, d), DataType.FLOAT32), on(manager, up, new Shape(experts, f, d), DataType.FLOAT32),
                    on(manager, down, new Shape(experts, d, f), DataType.FLOAT32)).isEmpty());
        }
    }

    @Test
    public void moeCombineMatchesItsDefinition() {
        requireKernels();
        SplittableRandom random = new SplittableRandom(6);
        int n = 37;
        int k = 3;
        int rows = n * k;
        for (int d : new int[] {40, 13}) {
            double[] out = random.doubles((long) rows * d, -2, 2).toArray();
            double[] weights = random.doubles((long) n * k, 0, 1).toArray();
            long[] positions = new long[n * k];      // a permutation of the sorted rows
            for (int i = 0; i < positions.length; i++) {
                positions[i] = i;
            }
            for (int i = positions.length - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                long swap = positions[i];
                positions[i] = positions[j];
                positions[j] = swap;
            }
            try (NDManager manager = NDManager.newBaseManager(Device.gpu(0));
                    NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
                NDArray where = manager.create(positions, new Shape(n, k));
                for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
                    NDArray rowsIn = on(manager, out, new Shape(rows, d), type);
                    NDArray w = on(manager, weights, new Shape(n, k), DataType.FLOAT32);
                    Optional<NDArray> routed = FusedKernels.moeCombine(rowsIn, where, w);
                    Assert.assertTrue(routed.isPresent(), "the kernel ran for " + type);
                    Assert.assertEquals(routed.get().getShape(), new Shape(n, d));
                    Assert.assertEquals(routed.get().getDataType(), type);
                    double[] actual = routed.get().toType(DataType.FLOAT64, false).toDoubleArray();
                    double[] values = rowsIn.toType(DataType.FLOAT64, false).toDoubleArray();
                    double[] ws = w.toType(DataType.FLOAT64, false).toDoubleArray();
                    double tolerance = type == DataType.FLOAT64 ? 1e-12 : type == DataType.FLOAT32 ? 1e-5 : 2e-3;
                    for (int t = 0; t < n; t++) {
                        for (int c = 0; c < d; c++) {
                            double expected = 0;
                            for (int j = 0; j < k; j++) {
                                expected += ws[t * k + j] * values[(int) positions[t * k + j] * d + c];
                            }
                            Assert.assertEquals(actual[t * d + c], expected, tolerance * Math.max(1, Math.abs(expected)),
                                    type + " d " + d + ": token " + t + " column " + c);
                        }
                    }
                }
            }
        }
    }

    @Test
    public void moePrefillWithTheKernelsMatchesTheOperations() {
        requireKernels();
        int d = 32;
        for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT16}) {
            try (NDManager manager = NDManager.newBaseManager(Device.gpu(0));
                    NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
                MoEBlock moe = MoEBlock.builder().setHiddenSize(d).setRoutedExperts(16).setExpertsPerToken(4)
                        .setExpertSize(24).optSharedExperts(1).optRoutedScalingFactor(2.5)
                        .optRouterType(DataType.FLOAT32).build();
                Shape shape = new Shape(3, 70, d); // 210 tokens: the prefill path (sorted rows)
                moe.initialize(manager, type, shape);
                NDArray x = manager.randomNormal(0, 1, shape, DataType.FLOAT32).toType(type, false);
                ParameterStore ps = new ParameterStore(manager, false);
                NDArray fused = moe.forwardByOperations(ps, x, false);
                Assert.assertTrue(FusedKernels.sortedExpertsFunction().hasRun(Device.gpu(0)), "sorted_experts ran");
                NDArray operations = ScriptedFunction.byOperations(() -> moe.forwardByOperations(ps, x, false));
                Assert.assertEquals(fused.getDataType(), type);
                assertCloseAtScale(fused, operations, type == DataType.FLOAT64 ? 1e-12 : 3e-3, 1e-3,
                        type + ": kernels and operations");
            }
        }
    }

    @Test
    public void rmsNormMatchesTheOperations() {
        requireKernels();
        SplittableRandom random = new SplittableRandom(10);
        try (NDManager manager = NDManager.newBaseManager(Device.gpu(0));
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
            for (int d : new int[] {2560, 13, 300}) {   // more and fewer columns than the kernel's threads
                double[] x = random.doubles(70L * d, -4, 4).toArray();
                double[] gain = random.doubles(d, 0.5, 1.5).toArray();
                // {input, compute type}: the model's float16 norms compute in float32
                DataType[][] cases = {{DataType.FLOAT16, DataType.FLOAT32}, {DataType.FLOAT32, DataType.FLOAT32},
                    {DataType.FLOAT32, null}, {DataType.FLOAT64, null}};
                for (DataType[] c : cases) {
                    NDArray input = on(manager, x, new Shape(2, 35, d), c[0]);
                    NDArray g = on(manager, gain, new Shape(d), c[0]);
                    Optional<NDArray> fused = FusedKernels.rmsNorm(input, g, 1e-6, c[1]);
                    String where = c[0] + " computed in " + c[1] + ", d " + d;
                    Assert.assertTrue(fused.isPresent(), "the kernel ran for " + where);
                    Assert.assertEquals(fused.get().getShape(), input.getShape());
                    Assert.assertEquals(fused.get().getDataType(), c[0]);
                    NDArray expected = RMSNorm.rmsNormByOperations(input, g, 1e-6, c[1]);
                    double error = fused.get().toType(DataType.FLOAT64, false)
                            .sub(expected.toType(DataType.FLOAT64, false)).abs().max().getDouble();
                    // float16: the normalised value and its product with the gain each round once (a float32 mean
                    // square added in another order may move either by one unit of the last place, ~2e-3 at 4)
                    double tolerance = c[0] == DataType.FLOAT64 ? 1e-13 : c[0] == DataType.FLOAT32 ? 1e-5 : 8e-3;
                    Assert.assertTrue(error <= tolerance, where + ": kernel and operations differ by " + error);
                }
            }
            // float16 computed in float16 is not the kernel's (it computes in float32)
            Assert.assertTrue(FusedKernels.rmsNorm(on(manager, new double[] {1, 2}, new Shape(1, 2), DataType.FLOAT16),
                    on(manager, new double[] {1, 1}, new Shape(2), DataType.FLOAT16), 1e-6, null).isEmpty());
        }
    }

    @Test
    public void siluMulMatchesItsDefinition() {
        requireKernels();
        SplittableRandom random = new SplittableRandom(11);
        double[] g = random.doubles(3 * 700, -6, 6).toArray();
        double[] u = random.doubles(3 * 700, -2, 2).toArray();
        try (NDManager manager = NDManager.newBaseManager(Device.gpu(0));
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
            for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
                NDArray gs = on(manager, g, new Shape(3, 700), type);
                NDArray us = on(manager, u, new Shape(3, 700), type);
                Optional<NDArray> fused = FusedKernels.siluMul(gs, us);
                Assert.assertTrue(fused.isPresent(), "the kernel ran for " + type);
                Assert.assertEquals(fused.get().getDataType(), type);
                double[] actual = fused.get().toType(DataType.FLOAT64, false).toDoubleArray();
                double[] a = gs.toType(DataType.FLOAT64, false).toDoubleArray();
                double[] b = us.toType(DataType.FLOAT64, false).toDoubleArray();
                double tolerance = type == DataType.FLOAT64 ? 1e-14 : type == DataType.FLOAT32 ? 1e-6 : 1e-3;
                for (int i = 0; i < actual.length; i++) {
                    double expected = a[i] / (1 + Math.exp(-a[i])) * b[i];
                    Assert.assertEquals(actual[i], expected, tolerance * Math.max(1, Math.abs(expected)),
                            type + " element " + i);
                }
            }
        }
    }

    private static NDList expertByExpert(NDArray x, NDArray gate, NDArray up, NDArray down, long[] counts) {
        NDList out = new NDList();
        long start = 0;
        for (int e = 0; e < counts.length; e++) {
            if (counts[e] == 0) {
                continue;
            }
            NDArray rows = x.get(start + ":" + (start + counts[e])).toType(DataType.FLOAT64, false);
            NDArray g = rows.matMul(gate.get(e).toType(DataType.FLOAT64, false).transpose());
            NDArray h = g.mul(ai.djl.nn.Activation.sigmoid(g))
                    .mul(rows.matMul(up.get(e).toType(DataType.FLOAT64, false).transpose()));
            out.add(h.matMul(down.get(e).toType(DataType.FLOAT64, false).transpose()));
            start += counts[e];
        }
        return out;
    }

    @Test
    public void theLibrarySetsTorchScriptsFusionStrategy() {
        // libtorch's own strategy (setting it changes nothing for the other tests in this JVM); a malformed one is
        // refused before it reaches the library
        requireKernels();
        String libtorchDefault = "STATIC:2,DYNAMIC:10";
        Assert.assertTrue(CudaGraphs.setFusionStrategy(libtorchDefault));
        Assert.assertEquals(CudaGraphs.fusionStrategy(), libtorchDefault);
        Assert.assertFalse(CudaGraphs.setFusionStrategy("STATIC:2\"); import os; x=(\""));
        Assert.assertEquals(CudaGraphs.fusionStrategy(), libtorchDefault);
    }

    /**
     * Asserts that {@code actual} is within {@code tolerance} of {@code expected}, relative to the largest value where
     * that exceeds 1, and that {@code expected} is not vacuous (its largest value above {@code floor}).
     */
    private static void assertCloseAtScale(NDArray actual, NDArray expected, double tolerance, double floor,
            String what) {
        NDArray reference = expected.toType(DataType.FLOAT64, false);
        double scale = reference.abs().max().getDouble();
        double error = actual.toType(DataType.FLOAT64, false).sub(reference).abs().max().getDouble();
        Assert.assertTrue(scale > floor, "vacuous output for " + what);
        Assert.assertTrue(error <= tolerance * Math.max(1, scale),
                what + " differ by " + error + " (scale " + scale + ")");
    }

    private static void requireKernels() {
        if (Engine.getInstance().getGpuCount() == 0 || !CudaGraphs.libraryLoaded(Device.gpu(0))) {
            throw new SkipException("needs a GPU and -Dengram.cudaGraphs.library (libengram_cuda_graphs.so)");
        }
    }

    private static NDArray on(NDManager manager, double[] values, Shape shape, DataType type) {
        return manager.create(values, shape).toType(type, false);
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }
}
