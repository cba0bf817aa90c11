package ai.engram.memory;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.ParameterStore;

/**
 * The N-gram memory of one Engram layer: per-head hash indices in, the concatenated rows {@code e_t} out
 * (spec §3). Where the rows live is the implementation's business — a device parameter
 * ({@code ai.engram.block.MultiHeadEmbedding}), pinned host memory, a memory-mapped table file, a device cache of
 * hot rows, or any of them behind a prefetcher ({@code ai.engram.offload}) — so the Engram block and the model never
 * ask.
 *
 * <p>Head i's index {@code z_i} lies in {@code [0, p_i)}; the memory reads row {@code z_i + offset_i} of its
 * {@code sum(p_i)} rows ({@link HeadLayout}).
 */
public interface EngramMemory {

    /** @return the layout: head table sizes {@code p_i}, offsets, rows */
    HeadLayout layout();

    /** @return D, values per row */
    int headDim();

    /** @return the width of {@code e_t}: heads × D */
    default long width() {
        return (long) layout().heads() * headDim();
    }

    /**
     * Reads the rows of a batch.
     *
     * @param parameterStore the forward's parameter store (memories held as parameters read through it)
     * @param hashIds {@code [B, T, H]} per-head indices, int32 or int64, on any device
     * @param manager the forward's manager: the rows are created on its device and attached to it
     * @param type the floating-point type of the rows
     * @param training whether gradients are recorded; read-only memories refuse
     * @return e_t {@code [B, T, H·D]}
     * @throws IllegalArgumentException if the shape does not end in H heads or an index is outside its head
     * @throws IllegalStateException if the memory is read-only and {@code training} is true, or closed
     */
    NDArray read(ParameterStore parameterStore, NDArray hashIds, NDManager manager, DataType type, boolean training);

    /**
     * A hint that a read of these hash ids is coming: a memory off the device may start gathering their rows now, so
     * that the read finds them ready. The default does nothing (a device table reads in one operation).
     *
     * @param hashIds {@code [B·T·H]} per-head indices, heads fastest, as the read will pass them; not changed
     *     afterwards by the caller
     */
    default void readAhead(int[] hashIds) {}
}
