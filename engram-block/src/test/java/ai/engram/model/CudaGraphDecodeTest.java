package ai.engram.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.block.CapturedRegion;
import ai.engram.block.CudaGraphs;

import org.testng.Assert;
import org.testng.SkipException;
import org.testng.annotations.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Decode steps replayed as CUDA graphs ({@link CapturedRegion}, two per layer around the attention) give the logits of
 * the same steps run operation by operation, step after step as positions and the cache move on, for two batch sizes
 * (each its own pool of graphs), and the graphs are really replayed. Needs a GPU and libengram_cuda_graphs.so
 * ({@code -Dengram.cudaGraphs.library}); skipped, and logged, without them.
 */
public class CudaGraphDecodeTest {

    private static final int DECODE_STEPS = 8;

    @Test
    public void replayedStepsMatchTheOperations() {
        if (Engine.getInstance().getGpuCount() == 0 || !CudaGraphs.available(Device.gpu(0))) {
            throw new SkipException("needs a GPU and -Dengram.cudaGraphs.library (libengram_cuda_graphs.so)");
        }
        for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32}) {
            // float64 throughout: the graphs' coefficients of the hyper-connections are computed on the device, the
            // operations' on the host (in float64); in float32 the two differ by float32's rounding
            EngramModelConfig config = type == DataType.FLOAT64
                    ? ScriptedDecodeTest.config(false, 32).with("{\"float32_ops\": false}")
                    : ScriptedDecodeTest.config(true, 32);
            try (NDManager manager = NDManager.newBaseManager(Device.gpu(0))) {
                EngramLM lm = EngramLMTest.build(config, manager, type);
                for (int batch : new int[] {2, 3}) {
                    long before = CapturedRegion.replays();
                    List<float[]> graphs = steps(lm, manager, batch);
                    long replays = CapturedRegion.replays() - before;
                    List<float[]> operations = CapturedRegion.withoutGraphs(() -> steps(lm, manager, batch));
                    // each layer: two regions; each replays from its capture (after the warm-up calls) on
                    long expected = 2L * config.getNumHiddenLayers() * (DECODE_STEPS - CapturedRegion.WARM_UP_CALLS);
                    Assert.assertEquals(replays, expected, type + " batch " + batch + ": graph replays");
                    for (int step = 0; step < graphs.size(); step++) {
                        double error = ScriptedDecodeTest.maxDifference(graphs.get(step), operations.get(step));
                        double tolerance = type == DataType.FLOAT64 ? 1e-9 : 1e-3;
                        Assert.assertTrue(error < tolerance, type + " batch " + batch + " step " + step
                                + ": logits differ by " + error);
                    }
                }
            }
        }
    }

    @Test
    public void threadsCapturingAtOnceEachReplayTheirOwnGraphs() throws Exception {
        // DJL Serving's workers decode on threads of their own, each capturing its own graphs while the others do.
        // Captures that shared a stream failed (cudaErrorStreamCaptureIsolation) and left those threads without graphs;
        // the answers stayed right, so only the replay count tells.
        if (Engine.getInstance().getGpuCount() == 0 || !CudaGraphs.available(Device.gpu(0))) {
            throw new SkipException("needs a GPU and -Dengram.cudaGraphs.library (libengram_cuda_graphs.so)");
        }
        EngramModelConfig config = ScriptedDecodeTest.config(true, 32);
        int threads = 8;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (NDManager manager = NDManager.newBaseManager(Device.gpu(0))) {
            EngramLM lm = EngramLMTest.build(config, manager, DataType.FLOAT32);
            List<float[]> operations = CapturedRegion.withoutGraphs(() -> steps(lm, manager, 2));
            CyclicBarrier start = new CyclicBarrier(threads);
            long before = CapturedRegion.replays();
            List<Future<List<float[]>>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                results.add(pool.submit(() -> {
                    start.await();
                    return steps(lm, manager, 2);
                }));
            }
            List<List<float[]>> replayed = new ArrayList<>();
            for (Future<List<float[]>> result : results) {
                replayed.add(result.get(120, TimeUnit.SECONDS));
            }
            long expected = threads * 2L * config.getNumHiddenLayers() * (DECODE_STEPS - CapturedRegion.WARM_UP_CALLS);
            Assert.assertEquals(CapturedRegion.replays() - before, expected, "graph replays of " + threads + " threads");
            for (int t = 0; t < threads; t++) {
                for (int step = 0; step < operations.size(); step++) {
                    double error = ScriptedDecodeTest.maxDifference(replayed.get(t).get(step), operations.get(step));
                    Assert.assertTrue(error < 1e-3, "thread " + t + " step " + step + ": logits differ by " + error);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Prefill of prompts of different lengths (left-padded), then {@link #DECODE_STEPS} decode steps. */
    private static List<float[]> steps(EngramLM lm, NDManager manager, int batch) {
        ParameterStore ps = new ParameterStore(manager, false);
        List<float[]> logits = new ArrayList<>();
        List<long[]> prompts = new ArrayList<>();
        for (int row = 0; row < batch; row++) {
            long[] prompt = new long[3 + 2 * row];
            int offset = row;
            Arrays.setAll(prompt, i -> 5 + 7L * i + offset);
            prompts.add(prompt);
        }
        try (NoGradientScope noGradient = NoGradientScope.open(manager.getEngine());
                NDManager scope = manager.newSubManager();
                DecodingState state = lm.newDecodingState(scope, batch)) {
            logits.add(ScriptedDecodeTest.realPositions(lm.prefill(ps, prompts, scope, state), prompts));
            for (int step = 0; step < DECODE_STEPS; step++) {
                long[] next = new long[batch];
                for (int row = 0; row < batch; row++) {
                    next[row] = 40 + 3L * step + 11L * row;
                }
                NDArray out = lm.decode(ps, scope.create(next, new Shape(batch, 1)), state);
                logits.add(out.toType(DataType.FLOAT32, false).toFloatArray());
            }
        }
        return logits;
    }
}
