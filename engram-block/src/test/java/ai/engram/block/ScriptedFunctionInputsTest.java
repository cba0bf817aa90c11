package ai.engram.block;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

import org.testng.Assert;
import org.testng.annotations.Test;

/**
 * What a scripted call hands libtorch for named inputs (parameters): while the thread records autograd, the
 * parameter itself (or an unnamed view where its name has a dot), so gradients reach it; while it does not, a view
 * detached from autograd, so that libtorch's graph executor sees inputs that need no gradient, as they are. And which
 * failures of a first call turn a function off.
 */
public class ScriptedFunctionInputsTest {

    // The scripts raise libtorch's kinds of message for inputs of more than 3 rows. Static: a function keeps its
    // module for the life of the process, as the model's do.
    private static final ScriptedFunction OUT_OF_MEMORY_FIRST = new ScriptedFunction("FirstCallOutOfMemory",
            "x: Tensor", "Tensor", "    if x.size(0) > 3:\n"
                    + "        ops.prim.RaiseException(\"CUDA out of memory. Tried to allocate 20.00 GiB\")\n"
                    + "    return torch.add(x, 1)\n", "test function (memory)", true);
    private static final ScriptedFunction BROKEN_FIRST = new ScriptedFunction("FirstCallBroken", "x: Tensor",
            "Tensor", "    if x.size(0) > 3:\n"
                    + "        ops.prim.RaiseException(\"no kernel for this device\")\n"
                    + "    return torch.add(x, 1)\n", "test function (broken)", true);

    @Test
    public void aFirstCallOutOfMemoryKeepsTheFunctionOtherFirstFailuresTurnItOff() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray big = manager.zeros(new Shape(4, 2));
            NDArray small = manager.zeros(new Shape(2, 2));
            Assert.assertTrue(OUT_OF_MEMORY_FIRST.callSingle(new NDList(big)).isEmpty(), "the failed call falls back");
            Assert.assertEquals(OUT_OF_MEMORY_FIRST.callSingle(new NDList(small)).orElseThrow().toFloatArray(),
                    new float[] {1, 1, 1, 1}, "out of memory on the first call left the function on");
            Assert.assertTrue(BROKEN_FIRST.callSingle(new NDList(big)).isEmpty());
            Assert.assertTrue(BROKEN_FIRST.callSingle(new NDList(small)).isEmpty(),
                    "a first call's other failure turns the function off");
        }
    }

    @Test
    public void parametersAreDetachedOnlyWhileNothingRecords() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray activation = manager.ones(new Shape(2, 3));
            NDArray plain = manager.ones(new Shape(3));
            plain.setName("weight");
            plain.setRequiresGradient(true);
            NDArray dotted = manager.ones(new Shape(3));
            dotted.setName("gate.weight");
            dotted.setRequiresGradient(true);
            NDList inputs = new NDList(activation, plain, dotted);

            boolean before = TorchGradMode.isRecording();
            TorchGradMode.set(false);
            try {
                NDList passed = ScriptedFunction.positional(inputs);
                Assert.assertSame(passed.get(0), activation, "activations pass as they are");
                for (int i = 1; i < 3; i++) {
                    Assert.assertNull(passed.get(i).getName(), "named input " + i + " passes unnamed");
                    Assert.assertFalse(passed.get(i).hasGradient(), "named input " + i + " passes detached");
                    Assert.assertEquals(passed.get(i).toFloatArray(), inputs.get(i).toFloatArray());
                }
                Assert.assertSame(ScriptedFunction.positional(inputs).get(1), passed.get(1), "made once per array");
            } finally {
                TorchGradMode.set(before);
            }
            // detached: a backward through the view of `weight` leaves `weight` without gradient
            NDArray detached = null;
            TorchGradMode.set(false);
            try {
                detached = ScriptedFunction.positional(inputs).get(1);
            } finally {
                TorchGradMode.set(before);
            }
            NDArray other = manager.ones(new Shape(3));
            other.setRequiresGradient(true);
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                collector.backward(detached.mul(other).sum());
            }
            Assert.assertEquals(other.getGradient().toFloatArray(), new float[] {1, 1, 1});
            Assert.assertEquals(plain.getGradient().toFloatArray(), new float[] {0, 0, 0},
                    "no gradient reached the parameter through its detached view");

            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                Assert.assertTrue(TorchGradMode.isRecording());
                NDList passed = ScriptedFunction.positional(inputs);
                Assert.assertSame(passed.get(1), plain, "a plain name passes as it is, gradients and all");
                Assert.assertNull(passed.get(2).getName(), "a dotted name passes as an unnamed view");
                collector.backward(passed.get(2).mul(passed.get(2)).sum());
            }
            // that view is part of autograd's graph: d(sum x^2)/dx = 2x reaches the parameter
            Assert.assertEquals(dotted.getGradient().toFloatArray(), new float[] {2, 2, 2});
        }
    }
}
