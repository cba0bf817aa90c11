package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;

import java.util.Arrays;

/**
 * A table held as one array on the compute device (the training layout, and the fastest when it fits): a lookup
 * is DJL's {@code embedding} gather on the device.
 */
public final class DeviceTable implements EngramTable {

    private final NDArray table;
    private final RowFormat format;
    private final boolean owned;

    /**
     * @param table {@code [rows, D]} float32 or float16, on the compute device
     * @param owned whether {@link #close} closes the array
     */
    public DeviceTable(NDArray table, boolean owned) {
        if (table.getShape().dimension() != 2) {
            throw new IllegalArgumentException("a table is [rows, D], got " + table.getShape());
        }
        DataType type = table.getDataType();
        if (type == DataType.FLOAT32) {
            format = RowFormat.FP32;
        } else if (type == DataType.FLOAT16) {
            format = RowFormat.FP16;
        } else {
            throw new IllegalArgumentException("device tables are float32 or float16, got " + type);
        }
        this.table = table;
        this.owned = owned;
    }

    @Override
    public long rowCount() {
        return table.getShape().get(0);
    }

    @Override
    public int rowDim() {
        return (int) table.getShape().get(1);
    }

    @Override
    public RowFormat format() {
        return format;
    }

    @Override
    public PreparedRows prepare(int[] rowIds, int count) {
        EngramTable.checkRows(rowIds, count, rowCount());
        int[] ids = Arrays.copyOf(rowIds, count);
        return new PreparedRows() {
            @Override
            public int count() {
                return count;
            }

            @Override
            public NDArray toDevice(NDManager manager, DataType type) {
                NDArray index = manager.create(ids, new Shape(count)).toDevice(table.getDevice(), false);
                NDArray rows = index.getNDArrayInternal().embedding(index, table, SparseFormat.DENSE).singletonOrThrow();
                rows.attach(manager);
                NDArray onDevice = rows.toDevice(manager.getDevice(), false);
                return onDevice.getDataType() == type ? onDevice : onDevice.toType(type, false);
            }

            @Override
            public void close() {}
        };
    }

    @Override
    public void close() {
        if (owned) {
            table.close();
        }
    }
}
