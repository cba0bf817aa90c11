package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Parameter;


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
        // Copied into the parameter's own storage. NDArray.set(Buffer) would instead make a CPU parameter adopt a
        // Java buffer as its storage, which only that one PtNDArray object keeps alive (see OwnedArrays).
        try (NDManager scratch = target.getManager().newSubManager()) {
            NDArray converted = value.getDataType() == target.getDataType() && value.getDevice().equals(target.getDevice())
                    ? value : OwnedArrays.copy(value, target.getDataType(), target.getDevice(), scratch);
            target.set(new NDIndex("..."), converted);
        }
    }
}
