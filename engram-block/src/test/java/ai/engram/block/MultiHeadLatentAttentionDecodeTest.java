package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import ai.engram.model.NoGradientScope;

import org.testng.Assert;
import org.testng.annotations.Test;

/**
 * MLA's decode steps with a cache, where the scripted attention writes each new position into the cache's buffers
 * itself ({@link KVCache#reserve}), give the outputs and the cache of the operations ({@link KVCache#append}):
 * a prefill, then single positions across the buffers' growth past their first 64 positions of room.
 */
public class MultiHeadLatentAttentionDecodeTest {

    private static final int D = 32;

    @Test
    public void decodeStepsIntoTheCacheMatchTheOperations() {
        try (NDManager manager = NDManager.newBaseManager();
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
            MultiHeadLatentAttention mla = MultiHeadLatentAttention.builder().setHiddenSize(D).setNumHeads(4)
                    .optQLoraRank(16).setKvLoraRank(12).setQkNopeHeadDim(8).setQkRopeHeadDim(4).setVHeadDim(6)
                    .optReducedOpsType(null).build(); // float64 throughout: both paths agree to rounding
            mla.initialize(manager, DataType.FLOAT64, new Shape(2, 1, D));
            ParameterStore ps = new ParameterStore(manager, false);
            int steps = 70; // past the cache's first buffers (the prefill's 3 positions and 64 more)
            NDArray inputs = manager.randomNormal(0, 1, new Shape(2, 3 + steps, D), DataType.FLOAT64);
            try (KVCache scripted = new KVCache(manager, 1); KVCache operations = new KVCache(manager, 1)) {
                for (int step = 0; step <= steps; step++) {
                    NDArray x = step == 0 ? inputs.get(":, :3") : inputs.get(":, {}:{}", step + 2, step + 3);
                    NDArray fast = run(mla, ps, x, scripted);
                    NDArray reference = ScriptedFunction.byOperations(() -> run(mla, ps, x, operations));
                    double error = fast.sub(reference).abs().max().getDouble();
                    Assert.assertTrue(error < 1e-10, "step " + step + ": outputs differ by " + error);
                    Assert.assertEquals(scripted.length(0), operations.length(0), "cached positions at step " + step);
                }
                Assert.assertTrue(mla.cachedDecodeAttentionHasRun(manager.getDevice()),
                        "the decode steps ran the scripted attention into the cache (else this compared the "
                                + "operations with themselves)");
                NDList probe = new NDList(manager.zeros(new Shape(2, 1, 12), DataType.FLOAT64),
                        manager.zeros(new Shape(2, 1, 1, 4), DataType.FLOAT64));
                NDList fastHistory = scripted.append(0, probe);
                NDList referenceHistory = operations.append(0, probe);
                for (int i = 0; i < 2; i++) {
                    Assert.assertEquals(fastHistory.get(i).getShape(), referenceHistory.get(i).getShape());
                    // the latents themselves come from the scripted and the operations' projections: rounding apart
                    double difference = fastHistory.get(i).sub(referenceHistory.get(i)).abs().max().getDouble();
                    Assert.assertTrue(difference < 1e-12, "cache entry " + i + " differs from append's by "
                            + difference);
                }
            }
        }
    }

    private static NDArray run(MultiHeadLatentAttention mla, ParameterStore ps, NDArray x, KVCache cache) {
        PairList<String, Object> params = CacheSlot.forLayer(CacheSlot.withCache(cache), 0);
        return mla.forward(ps, new NDList(x), false, params).singletonOrThrow();
    }
}
