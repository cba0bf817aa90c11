package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The lifetime of CUDA graph pools, which hold device memory for as long as they live: one per thread, model and
 * signature; at most four per thread and model (the least recently used goes); all of a model's pools closed with
 * the model's manager. Pools capture nothing here (no graphs on a CPU), so this runs anywhere.
 */
public class GraphPoolTest {

    @Test
    public void onePoolPerThreadModelAndSignature() throws Exception {
        try (NDManager model = NDManager.newBaseManager(Device.cpu())) {
            GraphPool pool = GraphPool.of(model, Device.cpu(), "decode [1]");
            Assert.assertSame(GraphPool.of(model, Device.cpu(), "decode [1]"), pool);
            Assert.assertNotSame(GraphPool.of(model, Device.cpu(), "decode [2]"), pool);
            GraphPool otherThread = CompletableFuture.supplyAsync(
                    () -> GraphPool.of(model, Device.cpu(), "decode [1]")).get();
            Assert.assertNotSame(otherThread, pool, "a graph's buffers are one thread's");
            try (NDManager otherModel = NDManager.newBaseManager(Device.cpu())) {
                Assert.assertNotSame(GraphPool.of(otherModel, Device.cpu(), "decode [1]"), pool);
            }
        }
    }

    @Test
    public void theLeastRecentlyUsedOfTooManyIsClosed() {
        try (NDManager model = NDManager.newBaseManager(Device.cpu())) {
            List<GraphPool> pools = new ArrayList<>();
            for (int batch = 1; batch <= 4; batch++) {
                pools.add(GraphPool.of(model, Device.cpu(), "decode [" + batch + "]"));
            }
            GraphPool.of(model, Device.cpu(), "decode [1]"); // used again: batch 2's is now the oldest
            GraphPool fifth = GraphPool.of(model, Device.cpu(), "decode [5]");
            Assert.assertTrue(pools.get(1).failed(), "the least recently used pool is closed");
            for (int i : new int[] {0, 2, 3}) {
                Assert.assertFalse(pools.get(i).failed(), "pool " + (i + 1) + " stays");
            }
            Assert.assertFalse(fifth.failed());
            GraphPool again = GraphPool.of(model, Device.cpu(), "decode [2]");
            Assert.assertNotSame(again, pools.get(1), "a closed pool is made anew");
            Assert.assertFalse(again.failed());
        }
    }

    @Test
    public void closingTheModelClosesItsPools() {
        GraphPool pool;
        GraphPool otherModelsPool;
        try (NDManager otherModel = NDManager.newBaseManager(Device.cpu())) {
            try (NDManager model = NDManager.newBaseManager(Device.cpu())) {
                pool = GraphPool.of(model, Device.cpu(), "decode [1]");
                otherModelsPool = GraphPool.of(otherModel, Device.cpu(), "decode [1]");
                Assert.assertFalse(pool.failed());
            }
            Assert.assertTrue(pool.failed(), "closed with its model");
            Assert.assertFalse(pool.manager().isOpen(), "its static arrays' manager is closed");
            Assert.assertFalse(otherModelsPool.failed(), "another model's pool stays");
        }
        Assert.assertTrue(otherModelsPool.failed());
    }
}
