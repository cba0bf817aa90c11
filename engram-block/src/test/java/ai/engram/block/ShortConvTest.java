package ai.engram.block;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

import org.testng.Assert;
import org.testng.annotations.DataProvider;
import org.testng.annotations.Test;

import java.util.SplittableRandom;

/**
 * The short convolution's two formulations (shifted products on a CPU, the convolution operator on a GPU) against
 * each other and against the convolution written out from its definition, with and without the decoding cache's
 * history, in values and in the gradients of the kernel and the input.
 */
public class ShortConvTest {

    @DataProvider(name = "shapes")
    public Object[][] shapes() {
        // batch, new positions T, past positions P (0: no history), branches M, d, kernel k, dilation, SiLU
        return new Object[][] {
            {2, 7, 0, 2, 3, 4, 3, true},     // prefill: the first positions read zeros
            {1, 1, 2, 2, 3, 4, 3, true},     // decode with less history than the kernel reaches
            {3, 1, 9, 1, 5, 4, 3, false},    // decode with all the history it reaches
            {2, 5, 4, 4, 2, 3, 1, true},     // several positions after some history, dilation 1
            {1, 6, 0, 1, 4, 1, 2, true},     // one tap: a per-channel scale
        };
    }

    @Test(dataProvider = "shapes")
    public void shiftsOperatorAndDefinitionAgree(int b, int t, int p, int m, int d, int k, int dilation, boolean silu) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SplittableRandom random = new SplittableRandom(b * 1000L + t * 100L + p * 10L + k);
            NDArray normed = random(manager, random, new Shape(b, t, m, d));
            NDArray history = p == 0 ? null : random(manager, random, new Shape(b, p, m, d));
            NDArray weight = random(manager, random, new Shape((long) m * d, 1, k));
            NDArray shifts = ShortConv.causalDepthwiseConvByShifts(normed, history, weight, dilation, silu);
            NDArray operator = ShortConv.causalDepthwiseConvByOperator(normed, history, weight, dilation, silu);
            double[] expected = definition(normed, history, weight, dilation, silu);
            Assert.assertEquals(shifts.getShape(), normed.getShape());
            Assert.assertEquals(operator.getShape(), normed.getShape());
            assertClose(shifts.toDoubleArray(), expected, "shifted products");
            assertClose(operator.toDoubleArray(), expected, "convolution operator");
        }
    }

    @Test
    public void gradientsOfBothFormulationsAgree() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Shape shape = new Shape(2, 6, 2, 3);
            double[][] gradients = new double[4][];
            for (int form = 0; form < 2; form++) {
                SplittableRandom same = new SplittableRandom(11);
                NDArray normed = random(manager, same, shape);
                NDArray history = random(manager, same, new Shape(2, 2, 2, 3));
                NDArray weight = random(manager, same, new Shape(6, 1, 4));
                normed.setRequiresGradient(true);
                weight.setRequiresGradient(true);
                try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                    NDArray y = form == 0
                            ? ShortConv.causalDepthwiseConvByShifts(normed, history, weight, 3, true)
                            : ShortConv.causalDepthwiseConvByOperator(normed, history, weight, 3, true);
                    collector.backward(y.mul(y).sum());
                }
                gradients[2 * form] = normed.getGradient().toDoubleArray();
                gradients[2 * form + 1] = weight.getGradient().toDoubleArray();
            }
            assertClose(gradients[0], gradients[2], "input gradient");
            assertClose(gradients[1], gradients[3], "kernel gradient");
            Assert.assertTrue(maxAbs(gradients[1]) > 1e-3, "the kernel gradient is not trivially zero");
        }
    }

    /** The convolution from its definition, on the host: y[t] = sum_j w[j] x[t - (k-1-j)·dilation], zeros before. */
    private static double[] definition(NDArray normed, NDArray history, NDArray weight, int dilation, boolean silu) {
        Shape shape = normed.getShape();
        int b = (int) shape.get(0);
        int t = (int) shape.get(1);
        int c = (int) (shape.get(2) * shape.get(3));
        int p = history == null ? 0 : (int) history.getShape().get(1);
        double[] x = normed.toDoubleArray();
        double[] h = history == null ? new double[0] : history.toDoubleArray();
        double[] w = weight.toDoubleArray();
        int k = (int) weight.getShape().get(2);
        double[] y = new double[b * t * c];
        for (int i = 0; i < b; i++) {
            for (int pos = 0; pos < t; pos++) {
                for (int ch = 0; ch < c; ch++) {
                    double sum = 0;
                    for (int j = 0; j < k; j++) {
                        int source = p + pos - (k - 1 - j) * dilation;     // in [history; normed] coordinates
                        double v = source < 0 ? 0 : source < p ? h[(i * p + source) * c + ch]
                                : x[(i * t + source - p) * c + ch];
                        sum += w[ch * k + j] * v;
                    }
                    y[(i * t + pos) * c + ch] = silu ? sum / (1 + Math.exp(-sum)) : sum;
                }
            }
        }
        return y;
    }

    private static NDArray random(NDManager manager, SplittableRandom random, Shape shape) {
        double[] v = new double[(int) shape.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = random.nextDouble(-1, 1);
        }
        return manager.create(v, shape).toType(DataType.FLOAT64, false);
    }

    private static void assertClose(double[] actual, double[] expected, String what) {
        Assert.assertEquals(actual.length, expected.length, what);
        for (int i = 0; i < actual.length; i++) {
            Assert.assertEquals(actual[i], expected[i], 1e-12, what + " [" + i + "]");
        }
    }

    private static double maxAbs(double[] v) {
        double max = 0;
        for (double x : v) {
            max = Math.max(max, Math.abs(x));
        }
        return max;
    }
}
