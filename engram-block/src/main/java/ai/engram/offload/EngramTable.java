package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/**
 * Where one Engram layer's N-gram rows live: on the device ({@link DeviceTable}), in host memory
 * ({@link HostMemoryTable}), in a memory-mapped table file ({@link MappedTable}), or behind a device-resident
 * cache of hot rows ({@link HotRowCache}). A lookup is split in two so the host part can run ahead of the model
 * on a prefetch thread: {@link #prepare} (host work: gathering rows into a staging buffer) and
 * {@link PreparedRows#toDevice} (one copy to the device). Only the pinning call in host storage depends on the
 * device type.
 */
public interface EngramTable extends AutoCloseable {

    /** @return rows (the sum of the layer's head table sizes) */
    long rowCount();

    /** @return values per row (D) */
    int rowDim();

    /** @return the storage row format */
    RowFormat format();

    /**
     * Host-side part of a lookup; thread-safe, may run on a background thread.
     *
     * @param rowIds row numbers; the first {@code count} are used and must lie in {@code [0, rowCount())}
     * @param count rows to gather
     * @return rows ready to be copied to a device; close them if {@link PreparedRows#toDevice} is never called
     * @throws IllegalArgumentException naming the first out-of-range row
     */
    PreparedRows prepare(int[] rowIds, int count);

    /**
     * A synchronous lookup.
     *
     * @param rowIds row numbers
     * @param count rows to gather
     * @param manager the manager (and device) of the result
     * @param type the result's floating-point type
     * @return {@code [count, D]}
     */
    default NDArray lookup(int[] rowIds, int count, NDManager manager, DataType type) {
        try (PreparedRows rows = prepare(rowIds, count)) {
            return rows.toDevice(manager, type);
        }
    }

    /** Releases host memory, mappings, pinning and device arrays this table owns. */
    @Override
    void close();

    /**
     * @param rowIds row numbers
     * @param count used prefix
     * @param rowCount table rows
     */
    static void checkRows(int[] rowIds, int count, long rowCount) {
        if (count < 0 || count > rowIds.length) {
            throw new IllegalArgumentException("count " + count + " outside [0, " + rowIds.length + "]");
        }
        for (int i = 0; i < count; i++) {
            if (rowIds[i] < 0 || rowIds[i] >= rowCount) {
                throw new IllegalArgumentException("row " + rowIds[i] + " (position " + i + ") is outside the table [0, "
                        + rowCount + ")");
            }
        }
    }
}
