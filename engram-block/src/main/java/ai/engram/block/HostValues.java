package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.engram.io.HalfPrecision;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Values computed on the host, made an array of the type they will be combined with in one operation: a
 * {@code create} of float64 values followed by {@code toType} would be two, and on a GPU each is a launch.
 */
final class HostValues {

    private HostValues() {}

    /**
     * @param manager owner, on the target device
     * @param values row-major values
     * @param shape their shape
     * @param type float64, float32 or float16
     * @return the array, rounded to {@code type} (float16 through float32)
     */
    static NDArray create(NDManager manager, double[] values, Shape shape, DataType type) {
        switch (type) {
            case FLOAT64:
                return manager.create(values, shape);
            case FLOAT32: {
                float[] f = new float[values.length];
                for (int i = 0; i < f.length; i++) {
                    f[i] = (float) values[i];
                }
                return manager.create(f, shape);
            }
            case FLOAT16: {
                ByteBuffer halves = ByteBuffer.allocateDirect(2 * values.length).order(ByteOrder.nativeOrder());
                for (double v : values) {
                    halves.putShort(HalfPrecision.floatToHalf((float) v));
                }
                halves.rewind();
                return manager.create(halves, shape, DataType.FLOAT16);
            }
            default:
                throw new IllegalArgumentException("host values as " + type + " are not supported");
        }
    }
}
