package ai.engram.block;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
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
 * The fused Sinkhorn kernel gives {@link HyperConnection#sinkhornOfLogits}'s matrices (the 41 operations it
 * replaces), for M = 1 to 8, decode-sized and prefill-sized batches of matrices, in float64, float32 and float16.
 * Needs a GPU and libengram_cuda_graphs.so built with its kernels; skipped without them.
 */
public class FusedKernelsTest {

    @Test
    public void sinkhornMatchesTheOperations() {
        if (Engine.getInstance().getGpuCount() == 0 || !CudaGraphs.libraryLoaded(Device.gpu(0))) {
            throw new SkipException("needs a GPU and -Dengram.cudaGraphs.library (libengram_cuda_graphs.so)");
        }
        SplittableRandom random = new SplittableRandom(11);
        try (NDManager manager = NDManager.newBaseManager(Device.gpu(0));
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
            for (int m : new int[] {1, 2, 4, 8}) {
                for (long matrices : new long[] {3, 1000}) {
                    float[] values = new float[(int) (matrices * m * m)];
                    for (int i = 0; i < values.length; i++) {
                        // the diagonal near 8 and the rest near -8, as hyper-connections start, plus noise
                        values[i] = (float) ((i % (m * m) % (m + 1) == 0 ? 8 : -8) * random.nextDouble() + random.nextGaussian());
                    }
                    for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
                        NDArray logits = manager.create(values, new Shape(matrices, m, m)).toType(type, false);
                        Optional<NDArray> fused = FusedKernels.sinkhorn(logits);
                        Assert.assertTrue(fused.isPresent(), "the kernel ran for " + type + ", M = " + m);
                        Assert.assertEquals(fused.get().getShape(), logits.getShape());
                        Assert.assertEquals(fused.get().getDataType(), type);
                        double[] expected = HyperConnection.sinkhornOfLogits(logits.toType(DataType.FLOAT64, false))
                                .toDoubleArray();
                        double[] actual = fused.get().toType(DataType.FLOAT64, false).toDoubleArray();
                        double tolerance = type == DataType.FLOAT64 ? 1e-12 : type == DataType.FLOAT32 ? 1e-5 : 2e-3;
                        for (int i = 0; i < expected.length; i++) {
                            Assert.assertEquals(actual[i], expected[i], tolerance, type + " M = " + m + " entry " + i);
                        }
                    }
                }
            }
        }
    }
}
