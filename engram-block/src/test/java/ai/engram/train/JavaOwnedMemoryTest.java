package ai.engram.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.engram.block.OwnedArrays;
import ai.engram.block.ParameterValues;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ParameterNames;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * Issue 10: arrays that outlive their source must not share its memory. On the CPU an array created from Java data
 * uses a Java direct buffer as storage; a second array aliasing it (DJL's same-type {@code toType(t, true)} is one)
 * keeps writing there after the buffer is freed. Here the "freeing" is simulated by overwriting the caller's buffer
 * — deterministic, where the real free corrupts the heap only after a garbage collection.
 */
public class JavaOwnedMemoryTest {

    private static NDArray fromBuffer(NDManager manager, ByteBuffer buffer, Shape shape) {
        return manager.create(buffer, shape, DataType.FLOAT32);
    }

    private static ByteBuffer filled(long count, float value) {
        ByteBuffer buffer = ByteBuffer.allocateDirect(Math.toIntExact(count * 4)).order(ByteOrder.nativeOrder());
        for (int i = 0; i < count; i++) {
            buffer.putFloat(i * 4, value);
        }
        return buffer;
    }

    private static float[] constant(long count, float value) {
        float[] out = new float[Math.toIntExact(count)];
        java.util.Arrays.fill(out, value);
        return out;
    }

    private static EngramLM tinyModel(NDManager manager) {
        EngramLM lm = new EngramLM(EngramModelConfig.named("tiny-engram"), null);
        lm.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
        return lm;
    }

    @Test
    public void restoredOptimizerStateHasItsOwnMemory() {
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = tinyModel(manager);
            EngramOptimizer optimizer = EngramOptimizer.builder().build();
            optimizer.bind(lm);
            Map.Entry<String, Parameter> first = ParameterNames.of(lm).entrySet().iterator().next();
            Shape shape = first.getValue().getArray().getShape();
            ByteBuffer callerMemory = filled(shape.size(), 0.25f);
            try (NDManager scratch = manager.newSubManager()) {
                optimizer.restore(Map.of("m/" + first.getKey(), fromBuffer(scratch, callerMemory, shape)),
                        Map.of(first.getKey(), 1));
            }
            // What the cleaner's free() does to the caller's buffer, in a form that cannot crash the test.
            for (int i = 0; i < shape.size(); i++) {
                callerMemory.putFloat(i * 4, Float.NaN);
            }
            float[] restored = optimizer.state().get("m/" + first.getKey()).toFloatArray();
            Assert.assertEquals(restored, constant(shape.size(), 0.25f),
                    "the restored moment shares memory with the caller's array");
        }
    }

    @Test
    public void loadedParametersHaveTheirOwnMemory() {
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = tinyModel(manager);
            Parameter parameter = ParameterNames.of(lm).values().iterator().next();
            Shape shape = parameter.getArray().getShape();
            ByteBuffer callerMemory = filled(shape.size(), 0.5f);
            try (NDManager scratch = manager.newSubManager()) {
                ParameterValues.assign(parameter, fromBuffer(scratch, callerMemory, shape), "test value");
            }
            for (int i = 0; i < shape.size(); i++) {
                callerMemory.putFloat(i * 4, Float.NaN);
            }
            Assert.assertEquals(parameter.getArray().toFloatArray(), constant(shape.size(), 0.5f));
        }
    }

    @Test
    public void ownedCopiesNeverAliasTheirSource() {
        try (NDManager manager = NDManager.newBaseManager()) {
            ByteBuffer callerMemory = filled(6, 2f);
            NDArray source = fromBuffer(manager, callerMemory, new Shape(2, 3));
            // Same type and device: the case where DJL's toType(type, true) returns an alias.
            NDArray sameType = OwnedArrays.copy(source, DataType.FLOAT32, source.getDevice(), manager);
            NDArray otherType = OwnedArrays.copy(source, DataType.FLOAT64, source.getDevice(), manager);
            for (int i = 0; i < 6; i++) {
                callerMemory.putFloat(i * 4, -1f);
            }
            Assert.assertEquals(sameType.toFloatArray(), constant(6, 2f));
            Assert.assertEquals(otherType.toDoubleArray(), new double[] {2, 2, 2, 2, 2, 2});
            Assert.assertEquals(sameType.getManager(), manager);
        }
    }
}
