package ai.engram.block;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/** PyTorch's fused attention, reached through a TorchScript module, against the scores written out. */
public class ScaledDotProductAttentionTest {

    private static final int BATCH = 2;
    private static final int HEADS = 3;
    private static final int KEY_DIM = 8;
    private static final int VALUE_DIM = 6;   // MLA's value heads are narrower than its query/key heads
    private static final double SCALE = 0.3;

    @Test
    public void theFusedModuleLoadsAndRuns() {
        // Without it the comparisons below would compare the written-out path with itself.
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray q = manager.randomNormal(new Shape(BATCH, HEADS, 4, KEY_DIM));
            Assert.assertTrue(FusedAttention.attend(q, q, q, SCALE, FusedAttention.Variant.CAUSAL, null).isPresent(),
                    "the TorchScript attention module did not load or run on " + manager.getDevice());
        }
    }

    @Test
    public void badCallsAfterTheModuleRanReachTheCallerAndKeepTheFusedPath() {
        // A failure of a module that has run (here a key width that does not match the queries; on a GPU, out of
        // memory) leaves that call to the written-out path, which throws it to the caller; it must not switch the
        // process to the written-out path for good, however often it happens (a server's bad requests).
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray q = manager.randomNormal(new Shape(BATCH, HEADS, 4, KEY_DIM));
            Assert.assertTrue(FusedAttention.attend(q, q, q, SCALE, FusedAttention.Variant.CAUSAL, null).isPresent());
            NDArray narrowKeys = manager.randomNormal(new Shape(BATCH, HEADS, 4, KEY_DIM - 1));
            for (int i = 0; i < 5; i++) {
                Assert.assertFalse(FusedAttention.attend(q, narrowKeys, q, SCALE, FusedAttention.Variant.CAUSAL, null)
                        .isPresent());
                Assert.expectThrows(RuntimeException.class,
                        () -> ScaledDotProductAttention.compute(q, narrowKeys, q, SCALE, null));
            }
            Assert.assertTrue(FusedAttention.attend(q, q, q, SCALE, FusedAttention.Variant.CAUSAL, null).isPresent(),
                    "the fused path was turned off by the caller's errors");
            // nor the masked module, which the bad calls must not reach before it has run once (a module's first
            // failure turns it off: it cannot tell bad inputs from a module that cannot run)
            NDArray bias = manager.zeros(new Shape(1, 1, 4, 4));
            Assert.assertTrue(FusedAttention.attend(q, q, q, SCALE, FusedAttention.Variant.MASKED, bias).isPresent(),
                    "the masked fused path was turned off by the caller's errors");
        }
    }

    @Test
    public void everyMaskMatchesTheScoresWrittenOut() {
        // {Tq, Tk, key bias?}: no cache (PyTorch's causal mask), one query after a cache (no mask), a chunk after a
        // cache and left padding (an additive mask)
        long[][] cases = {{5, 5, 0}, {1, 6, 0}, {1, 6, 1}, {3, 7, 0}, {4, 4, 1}, {3, 7, 1}};
        for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32}) {
            for (long[] c : cases) {
                try (NDManager manager = NDManager.newBaseManager()) {
                    NDArray[] qkv = inputs(manager, c[0], c[1], type);
                    NDArray keyBias = c[2] == 1 ? leftPadding(manager, c[1], type) : null;
                    NDArray fused = ScaledDotProductAttention.compute(qkv[0], qkv[1], qkv[2], SCALE, keyBias);
                    NDArray expected = ScaledDotProductAttention.materialised(qkv[0], qkv[1], qkv[2], SCALE,
                            bias(qkv[0], c[0], c[1], keyBias));
                    Assert.assertEquals(fused.getShape(), new Shape(BATCH, HEADS, c[0], VALUE_DIM));
                    double error = fused.sub(expected).abs().max().toType(DataType.FLOAT64, false).getDouble();
                    double tolerance = type == DataType.FLOAT64 ? 1e-13 : 1e-5;
                    Assert.assertTrue(error < tolerance, type + " Tq=" + c[0] + " Tk=" + c[1] + " keyBias=" + c[2]
                            + ": fused and written-out attention differ by " + error);
                }
            }
        }
    }

    @Test
    public void gradientsFlowThroughTheFusedKernel() {
        for (long[] c : new long[][] {{5, 5, 0}, {3, 7, 1}}) {
            try (NDManager manager = NDManager.newBaseManager()) {
                NDArray[] qkv = inputs(manager, c[0], c[1], DataType.FLOAT64);
                NDArray keyBias = c[2] == 1 ? leftPadding(manager, c[1], DataType.FLOAT64) : null;
                NDArray probe = manager.randomNormal(0, 1, new Shape(BATCH, HEADS, c[0], VALUE_DIM), DataType.FLOAT64);
                NDArray[] fused = gradients(qkv, probe, x -> ScaledDotProductAttention.compute(x[0], x[1], x[2],
                        SCALE, keyBias));
                NDArray[] expected = gradients(qkv, probe, x -> ScaledDotProductAttention.materialised(x[0], x[1],
                        x[2], SCALE, bias(x[0], c[0], c[1], keyBias)));
                for (int i = 0; i < 3; i++) {
                    double error = fused[i].sub(expected[i]).abs().max().getDouble();
                    Assert.assertTrue(error < 1e-12, "gradient of " + "qkv".charAt(i) + " differs by " + error);
                    Assert.assertTrue(expected[i].abs().max().getDouble() > 1e-3, "a gradient that is zero tests nothing");
                }
            }
        }
    }

    @Test
    public void concurrentCallersShareOneModule() throws Exception {
        // DJL Serving's workers call attention from several threads into the one module per device and variant.
        int threads = 4;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (NDManager manager = NDManager.newBaseManager()) {
            List<Future<Double>> errors = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                errors.add(pool.submit(() -> {
                    double worst = 0;
                    for (int i = 0; i < 50; i++) {
                        try (NDManager scope = manager.newSubManager()) {
                            long tq = 1 + i % 4;
                            NDArray[] qkv = inputs(scope, tq, tq + i % 3, DataType.FLOAT32);
                            NDArray fused = ScaledDotProductAttention.compute(qkv[0], qkv[1], qkv[2], SCALE, null);
                            NDArray expected = ScaledDotProductAttention.materialised(qkv[0], qkv[1], qkv[2], SCALE,
                                    bias(qkv[0], tq, tq + i % 3, null));
                            worst = Math.max(worst, fused.sub(expected).abs().max().getFloat());
                        }
                    }
                    return worst;
                }));
            }
            for (Future<Double> error : errors) {
                double worst = error.get();
                Assert.assertTrue(worst < 1e-5, "a concurrent caller got attention off by " + worst);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Gradients of {@code sum(attention(q, k, v) · probe)} on fresh copies of q, k, v (gradients accumulate). */
    private static NDArray[] gradients(NDArray[] qkv, NDArray probe, Function<NDArray[], NDArray> attention) {
        NDArray[] copies = new NDArray[3];
        NDArray[] out = new NDArray[3];
        try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            for (int i = 0; i < 3; i++) {
                copies[i] = qkv[i].duplicate();
                copies[i].setRequiresGradient(true);
            }
            collector.backward(attention.apply(copies).mul(probe).sum());
            for (int i = 0; i < 3; i++) {
                out[i] = copies[i].getGradient().duplicate();
            }
        }
        return out;
    }

    private static NDArray[] inputs(NDManager manager, long tq, long tk, DataType type) {
        return new NDArray[] {
            manager.randomNormal(0, 1, new Shape(BATCH, HEADS, tq, KEY_DIM), DataType.FLOAT64).toType(type, false),
            manager.randomNormal(0, 1, new Shape(BATCH, HEADS, tk, KEY_DIM), DataType.FLOAT64).toType(type, false),
            manager.randomNormal(0, 1, new Shape(BATCH, HEADS, tk, VALUE_DIM), DataType.FLOAT64).toType(type, false)};
    }

    /** The second row starts with two pads, hidden as {@link LeftPadding#keyBias} hides them. */
    private static NDArray leftPadding(NDManager manager, long tk, DataType type) {
        double[] bias = new double[(int) (BATCH * tk)];
        bias[(int) tk] = -Float.MAX_VALUE;
        bias[(int) tk + 1] = -Float.MAX_VALUE;
        return manager.create(bias, new Shape(BATCH, 1, 1, tk)).toType(type, false);
    }

    private static NDArray bias(NDArray q, long tq, long tk, NDArray keyBias) {
        NDArray causal = tq > 1 ? ScaledDotProductAttention.causalBias(q, tk - tq, tq, tk) : null;
        if (keyBias == null) {
            return causal;
        }
        return causal == null ? keyBias : causal.add(keyBias);
    }
}
