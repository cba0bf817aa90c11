package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.memory.EngramMemory;
import ai.engram.memory.HashIds;
import ai.engram.memory.HeadLayout;

/**
 * An {@link EngramMemory} over one {@link EngramTable} — host memory, a mapped table file, a device cache in front
 * of either, or a device array: hash ids become row numbers through the layer's {@link HeadLayout}, the table
 * gathers them and one copy brings them to the forward's device. Read-only: training needs device tables.
 *
 * <p>The read is split for prefetching ({@link PrefetchingMemory}): {@link #prepare} is the host part and may
 * run on another thread, {@link #deliver} the copy to the device.
 */
public final class TableMemory implements EngramMemory {

    private final HeadLayout layout;
    private final EngramTable table;

    /**
     * @param layout the layer's head sizes (from the hasher)
     * @param table the layer's rows; owned by the caller
     * @throws IllegalArgumentException if the table's row count differs from the layout's
     */
    public TableMemory(HeadLayout layout, EngramTable table) {
        if (table.rowCount() != layout.rows()) {
            throw new IllegalArgumentException("table has " + table.rowCount() + " rows but the layer's heads "
                    + layout + " need " + layout.rows());
        }
        this.layout = layout;
        this.table = table;
    }

    @Override
    public HeadLayout layout() {
        return layout;
    }

    @Override
    public int headDim() {
        return table.rowDim();
    }

    /** @return the table behind this memory */
    public EngramTable table() {
        return table;
    }

    @Override
    public NDArray read(ParameterStore parameterStore, NDArray hashIds, NDManager manager, DataType type,
            boolean training) {
        checkReadOnly(training);
        layout.checkShape(hashIds.getShape());
        return deliver(prepare(HashIds.toHost(hashIds)), hashIds.getShape(), manager, type);
    }

    /**
     * The host part of a read: row numbers, then the table's gather (thread-safe).
     *
     * @param hashIds per-head indices, heads fastest
     * @return the gathered rows; close them if they are never delivered
     */
    public PreparedRows prepare(int[] hashIds) {
        int[] rows = layout.rowIds(hashIds);
        return table.prepare(rows, rows.length);
    }

    /**
     * The device part of a read: one copy, then the rows reshaped to e_t.
     *
     * @param rows prepared rows of {@code hashShape}'s ids; consumed
     * @param hashShape {@code [B, T, H]}
     * @param manager the forward's manager
     * @param type the rows' type
     * @return {@code [B, T, H·D]}
     */
    public NDArray deliver(PreparedRows rows, Shape hashShape, NDManager manager, DataType type) {
        return rows.toDevice(manager, type).reshape(layout.rowsShape(hashShape, headDim()));
    }

    static void checkReadOnly(boolean training) {
        if (training) {
            throw new IllegalStateException("Engram tables in host memory or table files are read-only; train with "
                    + "device tables");
        }
    }
}
