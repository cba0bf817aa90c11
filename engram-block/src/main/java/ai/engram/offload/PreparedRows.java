package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/** Rows gathered on the host (or row ids for a device table), waiting for their copy to the device. */
public interface PreparedRows extends AutoCloseable {

    /** @return rows held */
    int count();

    /**
     * Copies the rows to the manager's device once and releases the host staging memory.
     *
     * @param manager owner and device of the result
     * @param type floating-point type of the result
     * @return {@code [count, D]}
     */
    NDArray toDevice(NDManager manager, DataType type);

    /** Releases the staging memory; idempotent. */
    @Override
    void close();
}
