package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Copies loaded weights into initialised parameters, checking shapes so a mismatched checkpoint fails loudly. */
public final class ParameterValues {

    private ParameterValues() {}

    /**
     * @param parameter an initialised parameter
     * @param value the new value; converted to the parameter's type
     * @param source what the value was read from, for error messages
     * @throws IllegalArgumentException if the shapes differ
     */
    public static void assign(Parameter parameter, NDArray value, String source) {
        if (!parameter.isInitialized()) {
            throw new IllegalStateException("parameter " + parameter.getName() + " must be initialised before loading");
        }
        NDArray target = parameter.getArray();
        if (!target.getShape().equals(value.getShape())) {
            throw new IllegalArgumentException(source + " has shape " + value.getShape() + " but parameter "
                    + parameter.getName() + " expects " + target.getShape());
        }
        NDArray converted = value.getDataType() == target.getDataType() ? value : value.toType(target.getDataType(), true);
        // A private copy: on CPU, set() may adopt the buffer as the tensor's storage.
        ByteBuffer bytes = converted.toByteBuffer();
        ByteBuffer copy = ByteBuffer.allocateDirect(bytes.remaining()).order(ByteOrder.nativeOrder());
        copy.put(bytes).flip();
        target.set(copy);
        if (converted != value) {
            converted.close();
        }
    }
}
