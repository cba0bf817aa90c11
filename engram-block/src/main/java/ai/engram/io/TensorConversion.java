package ai.engram.io;

import ai.djl.ndarray.types.DataType;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Supplier;

/** Element-type conversion of raw little-endian tensor bytes, done in Java so no bfloat16 reaches DJL. */
final class TensorConversion {

    private TensorConversion() {}

    /**
     * @param source little-endian elements of {@code from}
     * @param from stored type
     * @param to wanted DJL type
     * @param elements element count
     * @param what description for error messages
     * @return a new direct, native-order buffer of {@code to} elements
     */
    static ByteBuffer convert(ByteBuffer source, SafetensorsDataType from, DataType to, long elements,
            Supplier<String> what) {
        source = source.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (from.djlType() == to) {
            ByteBuffer out = ByteBuffer.allocateDirect(source.remaining()).order(ByteOrder.nativeOrder());
            if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN || from.byteSize() == 1) {
                out.put(source);
            } else {
                throw new UnsupportedOperationException("big-endian hosts are not supported");
            }
            return out.flip();
        }
        if (!from.isFloatingPoint() || !to.isFloating()) {
            throw new IllegalArgumentException(what.get() + " is " + from + " and cannot be loaded as " + to);
        }
        int n = Math.toIntExact(elements);
        ByteBuffer out = ByteBuffer.allocateDirect(Math.multiplyExact(n, to.getNumOfBytes()))
                .order(ByteOrder.nativeOrder());
        for (int i = 0; i < n; i++) {
            double value = switch (from) {
                case F64 -> source.getDouble(i * 8);
                case F32 -> source.getFloat(i * 4);
                case F16 -> HalfPrecision.halfToFloat(source.getShort(i * 2));
                case BF16 -> HalfPrecision.bf16ToFloat(source.getShort(i * 2));
                case F8_E4M3 -> HalfPrecision.e4m3ToFloat(source.get(i));
                default -> throw new AssertionError(from);
            };
            switch (to) {
                case FLOAT64 -> out.putDouble(value);
                case FLOAT32 -> out.putFloat((float) value);
                case FLOAT16 -> out.putShort(HalfPrecision.floatToHalf((float) value));
                default -> throw new IllegalArgumentException(what.get() + " cannot be loaded as " + to);
            }
        }
        return out.flip();
    }
}
