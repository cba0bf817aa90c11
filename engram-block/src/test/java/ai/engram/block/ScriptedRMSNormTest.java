package ai.engram.block;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.function.BinaryOperator;

/** RMSNorm as one TorchScript call gives what its DJL operations give, values and gradients. */
public class ScriptedRMSNormTest {

    private static final double EPS = 1e-6;

    @Test
    public void bothVariantsLoadAndRun() {
        // Without it the comparisons below would compare the operations with themselves.
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x = manager.randomNormal(new Shape(2, 8));
            NDArray gain = manager.ones(new Shape(8));
            for (boolean float32 : new boolean[] {false, true}) {
                NDList args = new NDList(x, gain);
                Assert.assertTrue(RMSNorm.scriptedFunction(float32, EPS).callSingle(args).isPresent(),
                        "the scripted RMSNorm (float32=" + float32 + ") did not load or run on " + manager.getDevice());
            }
        }
    }

    @Test
    public void valuesMatchTheOperations() {
        // {input type, compute type}: the backbone's float32 norm of fp16 and of float32 activations, norms in the
        // input's type (Engram's), and float64 as the golden tests run
        DataType[][] cases = {{DataType.FLOAT16, DataType.FLOAT32}, {DataType.FLOAT32, DataType.FLOAT32},
            {DataType.FLOAT32, null}, {DataType.FLOAT64, null}, {DataType.FLOAT64, DataType.FLOAT32},
            {DataType.FLOAT16, null}};
        for (DataType[] c : cases) {
            // a gain over the last axis, and one per residual branch ([M, d], the hyper-connections' layout)
            for (Shape gainShape : new Shape[] {new Shape(24), new Shape(4, 24)}) {
                try (NDManager manager = NDManager.newBaseManager()) {
                    NDArray x = manager.randomNormal(0, 3, new Shape(2, 5, 4, 24), DataType.FLOAT32).toType(c[0], false);
                    NDArray gain = manager.randomNormal(1, 0.2f, gainShape, DataType.FLOAT32).toType(c[0], false);
                    NDArray scripted = RMSNorm.rmsNorm(x, gain, EPS, c[1]);
                    NDArray operations = RMSNorm.rmsNormByOperations(x, gain, EPS, c[1]);
                    Assert.assertEquals(scripted.getDataType(), c[0]);
                    Assert.assertEquals(scripted.getShape(), x.getShape());
                    double error = scripted.toType(DataType.FLOAT64, false).sub(operations.toType(DataType.FLOAT64,
                            false)).abs().max().getDouble();
                    // the same kernels on the same arrays; a GPU's graph executor may fuse some of them (one rounding
                    // of the compute type fewer), hence not 0
                    double tolerance = c[0] == DataType.FLOAT16 ? 2e-3 : c[0] == DataType.FLOAT32
                            || c[1] == DataType.FLOAT32 ? 1e-5 : 1e-14;
                    Assert.assertTrue(error <= tolerance, c[0] + " computed in " + c[1] + ", gain " + gainShape
                            + ": scripted and operations differ by " + error);
                }
            }
        }
    }

    @Test
    public void gradientsMatchTheOperations() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x = manager.randomNormal(0, 2, new Shape(3, 4, 16), DataType.FLOAT64);
            NDArray gain = manager.randomNormal(1, 0.3f, new Shape(16), DataType.FLOAT32).toType(DataType.FLOAT64,
                    false);
            NDArray probe = manager.randomNormal(0, 1, x.getShape(), DataType.FLOAT64);
            NDArray[] scripted = gradients(x, gain, probe, (a, g) -> RMSNorm.rmsNorm(a, g, EPS, null));
            NDArray[] operations = gradients(x, gain, probe, (a, g) -> RMSNorm.rmsNormByOperations(a, g, EPS, null));
            for (int i = 0; i < 2; i++) {
                double scale = operations[i].abs().max().getDouble();
                Assert.assertTrue(scale > 1e-3, "vacuous gradient " + i);
                double error = scripted[i].sub(operations[i]).abs().max().getDouble();
                Assert.assertTrue(error < 1e-12 * scale, (i == 0 ? "input" : "gain") + " gradients differ by " + error);
            }
        }
    }

    private static NDArray[] gradients(NDArray x, NDArray gain, NDArray probe, BinaryOperator<NDArray> norm) {
        NDArray a = x.duplicate();
        NDArray g = gain.duplicate();
        try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            a.setRequiresGradient(true);
            g.setRequiresGradient(true);
            collector.backward(norm.apply(a, g).mul(probe).sum());
            return new NDArray[] {a.getGradient().duplicate(), g.getGradient().duplicate()};
        }
    }
}
