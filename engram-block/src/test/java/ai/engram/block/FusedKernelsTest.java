package ai.engram.block;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.engram.model.NoGradientScope;

import org.testng.Assert;
import org.testng.SkipException;
import org.testng.annotations.Test;

import java.util.Optional;
import java.util.SplittableRandom;

/**
 * The fused hyper-connection coefficients kernel gives pre, post and the Sinkhorn-normalised res of the definition
 * ({@link HyperConnection#sinkhornOfLogits} for res), in float64, float32 and float16. Needs a GPU and
 * libengram_cuda_graphs.so built with its kernels; skipped without them (examples/scripts/check-kernels-on-host.sh
 * checks the kernel's arithmetic without a GPU).
 */
public class FusedKernelsTest {

    @Test
    public void hyperConnectionCoefficientsMatchTheirDefinition() {
        if (Engine.getInstance().getGpuCount() == 0 || !CudaGraphs.libraryLoaded(Device.gpu(0))) {
            throw new SkipException("needs a GPU and -Dengram.cudaGraphs.library (libengram_cuda_graphs.so)");
        }
        SplittableRandom random = new SplittableRandom(12);
        int d = 16;
        double eps = 1e-6;
        try (NDManager manager = NDManager.newBaseManager(Device.gpu(0));
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
            for (int m : new int[] {2, 4}) {
                int width = 2 * m + m * m;
                int tokens = 6; // [2, 3]
                double[] projected = random.doubles((long) tokens * width, -3, 3).toArray();
                double[] norm = random.doubles(tokens, 0.5, 20).toArray();
                double[] alpha = {0.7, -0.4, 1.3};
                double[] preBias = random.doubles(m, -1, 1).toArray();
                double[] postBias = random.doubles(m, -1, 1).toArray();
                double[] resBias = random.doubles((long) m * m, -8, 0).toArray();
                for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
                    Optional<NDList> fused = FusedKernels.hyperConnectionCoefficients(
                            on(manager, projected, new Shape(2, 3, width), type), on(manager, norm, new Shape(2, 3, 1), type),
                            on(manager, alpha, new Shape(3), type), on(manager, preBias, new Shape(m), type),
                            on(manager, postBias, new Shape(m), type), on(manager, resBias, new Shape(m, m), type),
                            (long) m * d, eps);
                    Assert.assertTrue(fused.isPresent(), "the kernel ran for " + type + ", M = " + m);
                    Assert.assertEquals(fused.get().get(0).getShape(), new Shape(2, 3, 1, m));
                    Assert.assertEquals(fused.get().get(1).getShape(), new Shape(2, 3, m, m + 1));
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

    private static NDArray on(NDManager manager, double[] values, Shape shape, DataType type) {
        return manager.create(values, shape).toType(type, false);
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }
}
