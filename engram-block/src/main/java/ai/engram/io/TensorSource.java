package ai.engram.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.Set;

/** Named tensors that blocks load their weights from (a safetensors file, a sharded checkpoint, ...). */
public interface TensorSource {

    /** @return all tensor names */
    Set<String> names();

    /**
     * @param name tensor name
     * @return its shape
     * @throws IllegalArgumentException if there is no such tensor
     */
    Shape shape(String name);

    /**
     * Reads a tensor into a new array, converting floating-point data to {@code type}.
     *
     * @param name tensor name
     * @param manager owner of the new array (its device is used)
     * @param type wanted type; floating tensors are converted, integer tensors must already match
     * @return the array
     * @throws IllegalArgumentException if there is no such tensor or it cannot be converted
     */
    NDArray load(String name, NDManager manager, DataType type);
}
