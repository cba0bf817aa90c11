package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import org.testng.Assert;
import org.testng.annotations.Test;

/** The rotation as products with ±1 channel matrices equals transformers' slicing form, value for value. */
public class RotaryEmbeddingTest {

    /** transformers' rotate_half application, with DeepSeek's de-interleaving first when asked. */
    private static NDArray reference(NDArray x, NDArray[] cosSin, boolean interleaved) {
        Shape shape = x.getShape();
        int dim = (int) shape.tail();
        if (interleaved) {
            x = x.reshape(shape.slice(0, 3).addAll(new Shape(dim / 2, 2))).swapAxes(3, 4).reshape(shape);
        }
        NDArray x1 = x.get(new NDIndex("..., :{}", dim / 2));
        NDArray x2 = x.get(new NDIndex("..., {}:", dim / 2));
        NDArray rotated = NDArrays.concat(new NDList(x2.neg(), x1), -1);
        return x.mul(cosSin[0]).add(rotated.mul(cosSin[1]));
    }

    @Test
    public void matrixFormEqualsSlicingForm() {
        try (NDManager manager = NDManager.newBaseManager()) {
            for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32}) {
                for (boolean interleaved : new boolean[] {false, true}) {
                    NDArray x = manager.randomNormal(0, 2, new Shape(2, 5, 3, 8), DataType.FLOAT64).toType(type, false);
                    NDArray[] tables = RotaryEmbedding.cosSin(manager, 7, 5, 8, RopeScaling.plain(10000),
                            DataType.FLOAT32, type);
                    NDArray expected = reference(x, tables, interleaved);
                    NDArray got = RotaryEmbedding.apply(x, tables, interleaved);
                    Assert.assertEquals(got.getShape(), expected.getShape());
                    Assert.assertEquals(got.toType(DataType.FLOAT64, false).toDoubleArray(),
                            expected.toType(DataType.FLOAT64, false).toDoubleArray(),
                            type + (interleaved ? " interleaved" : ""));
                }
            }
        }
    }
}
