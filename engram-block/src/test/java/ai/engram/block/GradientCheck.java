package ai.engram.block;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.util.Pair;

import org.testng.Assert;

import java.util.SplittableRandom;
import java.util.function.Function;

/** Float64 central finite differences against autograd for every parameter of a block. */
public final class GradientCheck {

    private GradientCheck() {}

    /**
     * @param block an initialised float64 block
     * @param loss computes a scalar loss from the block (forward inside), with gradients recorded if asked
     * @param manager scratch manager
     * @param probes elements probed per parameter
     */
    public static void check(Block block, Function<Boolean, NDArray> loss, NDManager manager, int probes) {
        for (Pair<String, Parameter> p : block.getParameters()) {
            if (p.getValue().requiresGradient()) {
                p.getValue().getArray().setRequiresGradient(true);
            }
        }
        try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            collector.backward(loss.apply(true));
        }
        SplittableRandom random = new SplittableRandom(3);
        for (Pair<String, Parameter> p : block.getParameters()) {
            if (!p.getValue().requiresGradient()) {
                continue;
            }
            NDArray array = p.getValue().getArray();
            double[] grad = array.getGradient().toDoubleArray();
            double[] values = array.toDoubleArray();
            for (int k = 0; k < probes; k++) {
                int i = random.nextInt(values.length);
                double original = values[i];
                double step = 1e-6;
                values[i] = original + step;
                ParameterValues.assign(p.getValue(), manager.create(values, array.getShape()), "probe");
                double plus = loss.apply(false).getDouble();
                values[i] = original - step;
                ParameterValues.assign(p.getValue(), manager.create(values, array.getShape()), "probe");
                double minus = loss.apply(false).getDouble();
                values[i] = original;
                ParameterValues.assign(p.getValue(), manager.create(values, array.getShape()), "probe");
                double fd = (plus - minus) / (2 * step);
                double scale = Math.max(1e-4, Math.abs(fd) + Math.abs(grad[i]));
                Assert.assertTrue(Math.abs(fd - grad[i]) / Math.max(scale, 1e-3) < 1e-4,
                        p.getKey() + "[" + i + "]: autograd " + grad[i] + ", finite difference " + fd);
            }
        }
    }
}
