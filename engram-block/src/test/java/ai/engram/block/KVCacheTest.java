package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import org.testng.Assert;
import org.testng.annotations.Test;

/**
 * The cache's history against the concatenation of everything appended, across the buffers' growth (a prefill
 * of 5 positions, then single positions and chunks well past the first capacity), and its ownership: the views a
 * step gets belong to the step, and the cache keeps nothing per step.
 */
public class KVCacheTest {

    @Test
    public void historyIsEverythingAppendedAcrossGrowth() {
        // The expected history lives on the host in its own manager: reading a GPU array (toFloatArray) leaves its
        // host copy in the array's manager until that closes (DJL's JniUtils.getByteBuffer), so references kept in
        // the cache's manager would grow it by two arrays a step on a GPU (and only there).
        try (NDManager manager = NDManager.newBaseManager(); NDManager host = NDManager.newBaseManager(Device.cpu());
                KVCache cache = new KVCache(manager, 2)) {
            NDArray[] expected = new NDArray[2];
            int[] chunks = new int[300];
            java.util.Arrays.fill(chunks, 1);
            chunks[0] = 5;
            chunks[150] = 90;                  // a chunk larger than the room left: grows past twice the length
            int arraysAfterFirstStep = -1;
            long length = 0;
            for (int step = 0; step < chunks.length; step++) {
                try (NDManager scope = manager.newSubManager()) {
                    NDArray keys = scope.randomNormal(0, 1, new Shape(2, chunks[step], 3, 4), DataType.FLOAT32);
                    NDArray values = scope.randomNormal(0, 1, new Shape(2, chunks[step], 6), DataType.FLOAT32);
                    NDList history = cache.append(1, new NDList(keys, values));
                    length += chunks[step];
                    NDArray[] reference = {keys, values};
                    for (int i = 0; i < 2; i++) {
                        NDArray onHost = reference[i].toDevice(Device.cpu(), true);
                        NDArray next = expected[i] == null ? onHost
                                : NDArrays.concat(new NDList(expected[i], onHost), 1);
                        next.attach(host);
                        if (expected[i] != null) {
                            expected[i].close();
                        }
                        expected[i] = next;
                        Assert.assertEquals(history.get(i).getShape().get(1), length, "step " + step);
                        Assert.assertEquals(history.get(i).toFloatArray(), expected[i].toFloatArray(),
                                "entry " + i + " at step " + step);
                        Assert.assertSame(history.get(i).getManager(), scope, "the view belongs to the step");
                    }
                    Assert.assertEquals(cache.length(1), length);
                    Assert.assertEquals(cache.length(0), 0, "another layer is untouched");
                }
                int arrays = countArrays(manager);
                if (step == 0) {
                    arraysAfterFirstStep = arrays;
                } else {
                    Assert.assertEquals(arrays, arraysAfterFirstStep, "arrays kept after step " + step);
                }
            }
        }
    }

    /** Arrays owned by the manager and its sub-managers: the cache's buffers. */
    private static int countArrays(NDManager manager) {
        return manager.getManagedArrays().size();
    }
}
