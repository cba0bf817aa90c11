package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import org.testng.Assert;
import org.testng.annotations.Test;

/**
 * A scripted function runs calls of different scales on modules of their own (so libtorch's graph executor gives a
 * long prefill static fused kernels even after decode steps took a module's first shapes), and calls of one scale on
 * one module.
 */
public class ScriptedFunctionSizeClassTest {

    // Static: a function keeps its modules for the life of the process, as the model's do.
    private static final ScriptedFunction SCALE = new ScriptedFunction("SizeClassScale", "x: Tensor", "Tensor",
            "    return torch.mul(torch.add(x, 1), 2)\n", "test function (size classes)", true);

    @Test
    public void sizeClassesArePowersOfTwo() {
        Assert.assertEquals(ScriptedFunction.sizeClass(0), 0);
        Assert.assertEquals(ScriptedFunction.sizeClass(1), 0);
        Assert.assertEquals(ScriptedFunction.sizeClass(2), 1);
        Assert.assertEquals(ScriptedFunction.sizeClass(3), 2);
        Assert.assertEquals(ScriptedFunction.sizeClass(4), 2);
        Assert.assertEquals(ScriptedFunction.sizeClass(5), 3);
        Assert.assertEquals(ScriptedFunction.sizeClass(2560), 12, "a decode step's hidden state at batch 1");
        Assert.assertEquals(ScriptedFunction.sizeClass(16L * 1024 * 2560), 26, "a 16 x 1024 prefill's");
        Assert.assertEquals(ScriptedFunction.sizeClass(1L << 40), 40);
        Assert.assertEquals(ScriptedFunction.sizeClass((1L << 40) + 1), 41);
    }

    @Test
    public void eachSizeClassHasItsOwnModuleAndTheSameResults() {
        try (NDManager manager = NDManager.newBaseManager()) {
            int[][] shapes = {{1, 3}, {1, 4}, {2, 2}, {64, 3}, {1, 3}};
            int[] modulesAfter = {1, 1, 1, 2, 2}; // 3 and 4 elements share class 2; 192 is class 8
            for (int i = 0; i < shapes.length; i++) {
                NDArray x = manager.arange((float) (shapes[i][0] * shapes[i][1]))
                        .reshape(new Shape(shapes[i][0], shapes[i][1]));
                NDArray out = SCALE.callSingle(new NDList(x)).orElseThrow();
                Assert.assertEquals(out.toFloatArray(), x.add(1).mul(2).toFloatArray(), "call " + i);
                Assert.assertEquals(SCALE.loadedModules(), modulesAfter[i], "modules after call " + i);
            }
        }
    }
}
